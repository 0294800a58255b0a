"""SparseOcc-style fully sparse camera occupancy: a coarse-to-fine sparse voxel decoder that keeps only the
voxels predicted non-empty at each level, and a mask-transformer decoder whose queries predict a class and
a mask over the kept voxels."""
