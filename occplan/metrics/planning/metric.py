"""The open-loop planning metric: one row per sample of per-step values (L2, box collisions of the
plan and of the log per class set, voxel collisions), reduced per convention.

A step collides when any GT cell under the footprint is occupied; steps where the logged
trajectory's footprint already collides are removed from the numerator, the denominator keeps every
sample. ``PLANNING_SPEC`` is its registry entry, ``plan`` (open pass, ``PlanningSample`` records), with
the human rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.metrics.planning.bev import (
    CLASS_SETS,
    ego_footprint_offsets,
    footprint_collisions,
    in_class_set,
    rasterise_boxes,
)
from occplan.metrics.planning.config import PlanningMetricConfig
from occplan.metrics.planning.samples import PlanningSample
from occplan.metrics.planning.voxel import log_occ_collisions, occ_collisions
from occplan.metrics.registry import MetricContext, MetricSpec

CONVENTIONS = ("stp3", "uniad")
QUANTITIES = ("l2", *(f"col_{cs}" for cs in CLASS_SETS), "col_occ")


@dataclass(frozen=True)
class PlanningRow:
    """Per-step values of one sample: L2 (m), box collisions per class set of the plan and of the
    logged trajectory, voxel collisions of the plan and of the logged trajectory (NaN where unknown)."""

    token: str
    full_future: bool
    l2_m: np.ndarray
    col: dict[str, np.ndarray]
    gt_col: dict[str, np.ndarray]
    col_occ: np.ndarray
    gt_col_occ: np.ndarray


def planning_row(sample: PlanningSample, cfg: PlanningMetricConfig, offsets: np.ndarray | None = None) -> PlanningRow:
    """Evaluate one sample at every step."""
    offsets = ego_footprint_offsets(cfg) if offsets is None else offsets
    valid = sample.log_valid
    plan_xy = sample.plan[:, :2]
    l2 = np.where(valid, np.linalg.norm(plan_xy - np.where(valid[:, None], sample.log_xy_m, 0.0), axis=1), np.nan)
    col, gt_col = {}, {}
    for cs in CLASS_SETS:
        bev = np.stack(
            [rasterise_boxes([b for b in boxes if in_class_set(b.category, cs)], cfg) for boxes in sample.agents]
        )
        col[cs] = footprint_collisions(plan_xy, bev, offsets, cfg)
        log_xy = np.where(valid[:, None], sample.log_xy_m, 0.0)
        gt_col[cs] = footprint_collisions(log_xy, bev, offsets, cfg) & valid
    return PlanningRow(
        sample.token, bool(valid.all()), l2, col, gt_col, occ_collisions(sample, cfg), log_occ_collisions(sample, cfg)
    )


def reduce_per_step(rates: dict[str, np.ndarray], cfg: PlanningMetricConfig) -> dict[str, float]:
    """Per-step rates (``QUANTITIES`` -> (T,)) to ``<conv>/<q>_<h>s`` and ``<conv>/<q>_avg``:
    ``stp3`` = mean over steps 1..horizon, ``uniad`` = value at the horizon step, ``avg`` = mean of
    the horizons' values of that convention (NaN propagates)."""
    steps = cfg.horizon_steps()
    out: dict[str, float] = {}
    for q in QUANTITIES:
        r = rates[q]
        for conv in CONVENTIONS:
            vals = [float(np.mean(r[:s])) if conv == "stp3" else float(r[s - 1]) for s in steps]
            for h, v in zip(cfg.horizons_s, vals, strict=True):
                out[f"{conv}/{q}_{h:g}s"] = v
            out[f"{conv}/{q}_avg"] = float(np.mean(vals))
    return out


class PlanningMetric(Metric):
    """Streaming open-loop planning metric: ``update(PlanningSample)``; ``compute()`` -> ``plan/*``
    keys; ``compute_human()`` -> ``ref/human/plan/*`` keys of the logged trajectory.

    ``rows`` keeps the per-(sample, step) table for inspection.
    """

    def __init__(self, config: PlanningMetricConfig | None = None) -> None:
        self.config = config or PlanningMetricConfig()
        self._offsets = ego_footprint_offsets(self.config)
        self.rows: list[PlanningRow] = []

    def reset(self) -> None:
        self.rows = []

    def update(self, record: PlanningSample) -> None:
        if len(record.log_valid) != self.config.num_steps:
            raise ValidationError(
                f"PlanningSample[{record.token}]: {len(record.log_valid)} steps, expected {self.config.num_steps}"
            )
        self.rows.append(planning_row(record, self.config, self._offsets))

    def per_step(self) -> dict[str, np.ndarray]:
        """Per-step rates of the plan over the full-future samples: ``l2`` (m) and ``col_<set>`` (%,
        after the GT-collision exclusion), plus ``col_occ`` (% over samples with GT occupancy at the step)."""
        return self._per_step(human=False)

    def per_step_human(self) -> dict[str, np.ndarray]:
        """``per_step`` of the logged trajectory over the same samples: ``l2`` 0, ``col_<set>`` its own
        box collisions (%), ``col_occ`` its own voxel collisions (% over the steps where known)."""
        return self._per_step(human=True)

    def _per_step(self, human: bool) -> dict[str, np.ndarray]:
        rows = [r for r in self.rows if r.full_future]
        n, t = len(rows), self.config.num_steps
        if n == 0:
            return {q: np.full(t, np.nan) for q in QUANTITIES}
        out = {"l2": np.zeros(t) if human else np.sum([r.l2_m for r in rows], axis=0) / n}
        for cs in CLASS_SETS:
            hits = np.sum([r.gt_col[cs] if human else r.col[cs] & ~r.gt_col[cs] for r in rows], axis=0)
            out[f"col_{cs}"] = hits / n * 100
        occ = np.array([r.gt_col_occ if human else r.col_occ for r in rows])
        known = np.isfinite(occ).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["col_occ"] = np.nansum(occ, axis=0) / known * 100
        return out

    def compute(self) -> dict[str, float]:
        """``plan/{stp3,uniad}/<q>_{1,2,3}s``, ``plan/<conv>/<q>_avg``, ``plan/n_samples``, ``plan/n_samples_all``."""
        out = {f"plan/{k}": v for k, v in reduce_per_step(self.per_step(), self.config).items()}
        out["plan/n_samples"] = float(sum(r.full_future for r in self.rows))
        out["plan/n_samples_all"] = float(len(self.rows))
        return out

    def compute_human(self) -> dict[str, float]:
        """``ref/human/plan/{stp3,uniad}/<q>_{1,2,3}s`` and ``..._avg`` of the logged trajectory."""
        return {f"ref/human/plan/{k}": v for k, v in reduce_per_step(self.per_step_human(), self.config).items()}

    def state(self) -> dict:
        """JSON-able state (the per-(sample, step) table, NaN as None); ``merge_state`` appends it."""

        def floats(a: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in a]

        return {
            "rows": [
                {
                    "token": r.token,
                    "full_future": r.full_future,
                    "l2_m": floats(r.l2_m),
                    "col": {cs: r.col[cs].tolist() for cs in CLASS_SETS},
                    "gt_col": {cs: r.gt_col[cs].tolist() for cs in CLASS_SETS},
                    "col_occ": floats(r.col_occ),
                    "gt_col_occ": floats(r.gt_col_occ),
                }
                for r in self.rows
            ]
        }

    def merge_state(self, state: dict) -> None:
        """Append the rows of a ``state()`` (None read back as NaN)."""
        t = self.config.num_steps
        for r in state["rows"]:
            row = PlanningRow(
                r["token"], bool(r["full_future"]), np.asarray(r["l2_m"], dtype=np.float64),
                {cs: np.asarray(r["col"][cs], dtype=bool) for cs in CLASS_SETS},
                {cs: np.asarray(r["gt_col"][cs], dtype=bool) for cs in CLASS_SETS},
                np.asarray(r["col_occ"], dtype=np.float64), np.asarray(r["gt_col_occ"], dtype=np.float64),
            )  # fmt: skip
            if len(row.l2_m) != t:
                raise ValidationError(f"PlanningMetric.merge_state: row {row.token} has {len(row.l2_m)} steps, not {t}")
            self.rows.append(row)


def _compute(metric: PlanningMetric) -> dict[str, float]:
    return metric.compute() | metric.compute_human() if metric.rows else {}


def _create(context: MetricContext) -> PlanningMetric:
    return PlanningMetric()


PLANNING_SPEC = MetricSpec(
    name="plan",
    version=1,
    passes={"open": ""},
    record=PlanningSample,
    create=_create,
    update=PlanningMetric.update,
    compute=_compute,
)
