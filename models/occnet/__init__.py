"""OccNet-style camera occupancy: image backbone, BEVFormer-style spatial cross-attention (reduced),
cascade voxel decoder to 200x200x16 semantics and flow."""
