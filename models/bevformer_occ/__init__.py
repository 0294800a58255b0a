"""BEVFormer-style camera occupancy (the Occ3D-nuScenes baseline): BEV queries with temporal self-attention
to the ego-motion-aligned previous BEV and spatial cross-attention to six cameras, then a height-lifting
occupancy head to 200x200x16 semantics and flow."""
