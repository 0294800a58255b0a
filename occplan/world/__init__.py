"""World models answering LiDAR ray queries, camera renders and GT occupancy at any pose and time."""

from occplan.world.base import LidarScan, RayHits, World

__all__ = ["LidarScan", "RayHits", "World"]
