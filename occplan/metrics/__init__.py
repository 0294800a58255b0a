"""Metrics of OccPlan: streaming accumulators (``reset / update / compute``) returning flat dicts of
METRICS.md keys, and pure functions of recorded episodes for the closed-loop scores.

Each metric module declares its registry entry (``<NAME>_SPEC``, a ``MetricSpec``); this package
registers them in ``METRICS`` (``occplan.metrics.registry``), one line each, in the order a pass
hands them its records.
"""

from occplan.metrics.bootstrap import bootstrap_ci, ci_keys
from occplan.metrics.closed_loop import CLOSED_LOOP_SPEC, ClosedLoopConfig, ClosedLoopMetric, closed_loop_scores
from occplan.metrics.confusion import ConfusionMatrix, confusion_bincount, confusion_counts, iou_per_class
from occplan.metrics.lidarseg import LIDARSEG_SPEC, LidarSegMetric
from occplan.metrics.occupancy import OCCUPANCY_SPEC, OccupancyMetric, OccupancyMetricConfig
from occplan.metrics.planning import (
    PLANNING_SPEC,
    PlanningMetric,
    PlanningMetricConfig,
    PlanningSample,
    planning_sample,
)
from occplan.metrics.rayiou import (
    RAYIOU_SPEC,
    RayIoUConfig,
    RayIoUMetric,
    RayRecords,
    cast_rays,
    lidar_ray_directions,
    occ_score,
    rayiou_origins,
    scenario_rayiou_origins,
)
from occplan.metrics.records import LidarSegStep, OccupancyStep, StepRuntime
from occplan.metrics.registry import METRICS, PASSES, MetricContext, MetricRegistry, MetricSpec
from occplan.metrics.runtime import RUNTIME_SPEC, RuntimeMetric

METRICS.register(OCCUPANCY_SPEC)
METRICS.register(RAYIOU_SPEC)
METRICS.register(LIDARSEG_SPEC)
METRICS.register(PLANNING_SPEC)
METRICS.register(CLOSED_LOOP_SPEC)
METRICS.register(RUNTIME_SPEC)

__all__ = [
    "METRICS",
    "PASSES",
    "ClosedLoopConfig",
    "ClosedLoopMetric",
    "ConfusionMatrix",
    "LidarSegMetric",
    "LidarSegStep",
    "MetricContext",
    "MetricRegistry",
    "MetricSpec",
    "OccupancyMetric",
    "OccupancyMetricConfig",
    "OccupancyStep",
    "PlanningMetric",
    "PlanningMetricConfig",
    "PlanningSample",
    "RayIoUConfig",
    "RayIoUMetric",
    "RayRecords",
    "RuntimeMetric",
    "StepRuntime",
    "bootstrap_ci",
    "cast_rays",
    "ci_keys",
    "closed_loop_scores",
    "confusion_bincount",
    "confusion_counts",
    "iou_per_class",
    "lidar_ray_directions",
    "occ_score",
    "planning_sample",
    "rayiou_origins",
    "scenario_rayiou_origins",
]
