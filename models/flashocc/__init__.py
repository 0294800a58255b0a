"""FlashOcc: six cameras -> LSS BEV -> 2D BEV encoder -> Channel-to-Height occupancy head (no 3D convolution)."""
