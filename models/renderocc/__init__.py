"""RenderOcc: a semantic density field over the voxel grid trained only from 2D labels by volume rendering
(``models.renderocc.model``)."""
