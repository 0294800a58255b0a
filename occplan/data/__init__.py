"""The nuScenes data layer: scenes, keyframes, sensors, maps and occupancy GT of a nuScenes-format dataroot."""

from occplan.data.lidar import read_pcd_bin
from occplan.data.lidarseg import read_lidarseg_bin
from occplan.data.occ_readers import (
    OccFormat,
    read_occ3d,
    read_occupancy,
    read_openocc_v2,
    read_openoccupancy,
    read_surroundocc,
)
from occplan.data.source import NuScenesSource, SourceConfig

__all__ = [
    "NuScenesSource",
    "OccFormat",
    "SourceConfig",
    "read_lidarseg_bin",
    "read_occ3d",
    "read_occupancy",
    "read_openocc_v2",
    "read_openoccupancy",
    "read_pcd_bin",
    "read_surroundocc",
]
