"""All streaming metrics of a run in one mergeable bundle.

A scenario fills its own ``MetricSet`` and ships ``state()`` (JSON-able: confusion matrices, RayIoU
counts, the LiDAR-seg matrix, the per-(sample, step) planning table, the per-episode closed-loop
scores and the per-step runtimes) in its results line. The run summary is
``MetricSet.merged(states).compute()`` with the states in scenario order, so it is the same whether
the scenarios ran in one process, in N Ray workers or across a resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occplan.errors import ValidationError
from occplan.metrics import (
    ClosedLoopMetric,
    LidarSegMetric,
    OccupancyMetric,
    OccupancyMetricConfig,
    PlanningMetric,
    RayIoUConfig,
    RayIoUMetric,
)
from occplan.types import GridSpec, LabelSet, OccupancyFrame

RUNTIME_KEYS = ("model", "planner", "sim")


def mask_variants(gt: OccupancyFrame) -> tuple[str, ...]:
    """Occupancy mIoU variants a GT frame supports: camera (``occ/miou``), LiDAR and none with
    both visibility masks, else only none (``occ/miou_nomask``)."""
    return ("camera", "lidar", "none") if gt.mask_camera is not None and gt.mask_lidar is not None else ("none",)


@dataclass
class MetricSet:
    """Occupancy mIoU, RayIoU + flow, LiDAR-seg, open-loop planning, closed-loop scores, runtimes.

    ``occ`` is None until the first GT frame says which mask variants exist (``ensure_occ``).
    ``runtime_ms`` holds per-decision wall times in milliseconds under ``RUNTIME_KEYS``.
    """

    grid: GridSpec
    labels: LabelSet
    occ: OccupancyMetric | None = None
    ray: RayIoUMetric = field(init=False)
    lidarseg: LidarSegMetric = field(default_factory=LidarSegMetric)
    plan: PlanningMetric = field(default_factory=PlanningMetric)
    closed_loop: ClosedLoopMetric = field(default_factory=ClosedLoopMetric)
    runtime_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in RUNTIME_KEYS})

    def __post_init__(self) -> None:
        self.ray = RayIoUMetric(RayIoUConfig(self.grid, self.labels))

    def ensure_occ(self, masks: tuple[str, ...]) -> OccupancyMetric:
        """The occupancy accumulator, created with ``masks`` on first use; later frames must agree."""
        if self.occ is None:
            self.occ = OccupancyMetric(OccupancyMetricConfig(self.grid, self.labels, masks))
        elif self.occ.config.masks != masks:
            raise ValidationError(
                f"occupancy GT: mask variants {masks} differ from earlier frames' {self.occ.config.masks}"
            )
        return self.occ

    def state(self) -> dict:
        """JSON-able state of every accumulator (NaN as None)."""
        return {
            "occ": self.occ.state() if self.occ is not None else None,
            "ray": self.ray.state(),
            "lidarseg": self.lidarseg.state(),
            "plan": self.plan.state(),
            "closed_loop": self.closed_loop.state(),
            "runtime_ms": {k: list(v) for k, v in self.runtime_ms.items()},
        }

    def merge_state(self, state: dict) -> None:
        """Add a ``state()`` of another MetricSet on the same grid and label set."""
        if state["occ"] is not None:
            self.ensure_occ(tuple(state["occ"]["masks"])).merge_state(state["occ"])
        self.ray.merge_state(state["ray"])
        self.lidarseg.merge_state(state["lidarseg"])
        self.plan.merge_state(state["plan"])
        self.closed_loop.merge_state(state["closed_loop"])
        for k in RUNTIME_KEYS:
            self.runtime_ms[k].extend(float(v) for v in state["runtime_ms"][k])

    @classmethod
    def merged(cls, grid: GridSpec, labels: LabelSet, states: list[dict]) -> MetricSet:
        """One MetricSet holding ``states`` added in the given order."""
        out = cls(grid, labels)
        for s in states:
            out.merge_state(s)
        return out

    def compute(self) -> dict[str, float]:
        """Flat dict of METRICS.md keys (NaN where a metric saw no sample)."""
        out: dict[str, float] = {}
        if self.occ is not None:
            out.update(self.occ.compute())
        if self.ray.n_samples:
            out.update(self.ray.compute())
        if self.lidarseg.n_points_gt:
            out.update(self.lidarseg.compute())
        if self.plan.rows:
            out.update(self.plan.compute())
        out.update(self.closed_loop.compute())
        for k in RUNTIME_KEYS:
            calls = self.runtime_ms[k]
            out[f"runtime/{k}_ms"] = float(np.median(calls)) if calls else float("nan")
        return out
