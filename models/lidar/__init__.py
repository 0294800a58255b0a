"""LiDAR occupancy model: voxeliser, sparse 3D U-Net on spconv, semantic / flow / point heads."""
