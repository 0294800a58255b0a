"""Visualisation: BEV frames of occupancy, agents and trajectories (GIF / PNG) and summary plots."""
