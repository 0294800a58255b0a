"""Runnable examples of OccDrive-v0 for learning (docs/RL.md)."""
