"""RayIoU (SparseOcc protocol), flow mAVE (CVPR2024 OpenOcc) and the Occ score, as SparseOcc
``loaders/ray_metrics.py`` + ``lib/dvr/dvr.cu`` (reference §3), by job:

* ``origins``: the ray origins of a sample (the scene's LiDAR positions) and the 14,040 directions;
* ``cast``: the traversal kernels (fast numba walk and the reference-style walk) and ``cast_rays``;
* ``metric``: ``RayIoUMetric`` (counts, IoU, flow errors, Occ score), its config and registry entry;
* ``gt_cache``: the on-disk cache of GT first hits (``GtRayCache``, ``GtHits``).
"""

from occplan.metrics.rayiou.cast import (
    RayRecords,
    cast_rays,
    flow_at,
    to_voxel_units,
    trace_reference,
    trace_reference_all,
)
from occplan.metrics.rayiou.gt_cache import CACHE_VERSION, GtHits, GtRayCache
from occplan.metrics.rayiou.metric import (
    FLOW_CLASSES,
    RAYIOU_SPEC,
    THRESHOLDS_M,
    RayIoUConfig,
    RayIoUMetric,
    RaySampleCounts,
    occ_score,
)
from occplan.metrics.rayiou.origins import (
    lidar_ray_directions,
    lidar_world_positions,
    rayiou_origins,
    scenario_rayiou_origins,
)

__all__ = [
    "CACHE_VERSION",
    "FLOW_CLASSES",
    "RAYIOU_SPEC",
    "THRESHOLDS_M",
    "GtHits",
    "GtRayCache",
    "RayIoUConfig",
    "RayIoUMetric",
    "RayRecords",
    "RaySampleCounts",
    "cast_rays",
    "flow_at",
    "lidar_ray_directions",
    "lidar_world_positions",
    "occ_score",
    "rayiou_origins",
    "scenario_rayiou_origins",
    "to_voxel_units",
    "trace_reference",
    "trace_reference_all",
]
