"""World models answering LiDAR ray queries, camera renders and GT occupancy at any pose and time."""

from __future__ import annotations

from pathlib import Path

from occplan.types import Scenario
from occplan.world.base import LidarScan, RayHits, World

__all__ = ["LidarScan", "RayHits", "World", "open_world"]


def open_world(source, scenario: Scenario) -> World:
    """The World of ``scenario``: the exact generated world when ``<dataroot>/occplan_worlds/<scene>/``
    exists, else a world reconstructed from the log through ``source`` (an ``occplan.data.NuScenesSource``)."""
    if (Path(source.dataroot) / "occplan_worlds" / scenario.name).is_dir():
        from occplan.world.generated import GeneratedWorld

        return GeneratedWorld.from_dataroot(source.dataroot, scenario.name)
    from occplan.world.reconstructed import ReconstructedWorld

    return ReconstructedWorld.from_source(source, scenario)
