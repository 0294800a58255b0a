"""BEVDet-occ: six cameras -> LSS voxel volume -> 3D convolutional occupancy head."""
