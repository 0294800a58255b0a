"""CONet (OpenOccupancy's Cascade Occupancy Network, Wang et al., ICCV 2023): camera and LiDAR branches fused
in 3D by adaptive per-voxel weights, a coarse occupancy prediction, and a cascade that refines only the voxels
predicted occupied at the coarse level at the full Occ3D resolution."""
