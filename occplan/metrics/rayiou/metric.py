"""RayIoU (SparseOcc protocol), flow mAVE (CVPR2024 OpenOcc, TP rays at 2 m) and the Occ score from
the per-ray records of ``occplan.metrics.rayiou.cast``:

* rays whose GT label is free are dropped; TP at threshold t = same class and
  ``|d_pred - d_gt| < t`` (float32); counts are global; IoU over classes without free;
  RayIoU@t = nanmean over classes; RayIoU = nanmean over the (3, C) array;
* flow: for the TP rays at 2 m, the L2 error of the flow read at the hit voxel, per flow class.

``RAYIOU_SPEC`` is its registry entry, ``ray`` (open and closed pass, ``OccupancyStep`` records).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numba
import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.metrics.rayiou.cast import RayRecords, cast_rays
from occplan.metrics.records import OccupancyStep
from occplan.metrics.registry import MetricContext, MetricSpec
from occplan.types import GridSpec, LabelSet
from occplan.types._check import check_array

THRESHOLDS_M = (1.0, 2.0, 4.0)
FLOW_CLASSES = ("car", "truck", "trailer", "bus", "construction_vehicle", "bicycle", "motorcycle", "pedestrian")


@numba.njit(cache=True, nogil=True)
def _count_rays(
    gt_label, pred_label, gt_dist, pred_dist, thresholds, free, flow_j, gt_flow, pred_flow,
    gt_count, pred_count, tp_count, flow_sum, flow_count,
) -> None:  # fmt: skip
    """SparseOcc ``calc_rayiou`` counts of one sample, added in place: rays with GT label free are
    dropped; TP at threshold t = same label and float32 ``|d_pred - d_gt| < t``. With flow (``gt_flow``
    and ``pred_flow`` (N, 2) float32, else empty), each TP ray at ``thresholds[flow_j]`` adds its
    float32 L2 flow error (as ``numpy.linalg.norm``) to ``flow_sum`` (float64, in ray order) and 1 to
    ``flow_count`` of its GT class (CVPR2024 OpenOcc mAVE)."""
    with_flow = gt_flow.shape[0] > 0
    for i in range(gt_label.size):
        g = gt_label[i]
        if g == free:
            continue
        p = pred_label[i]
        gt_count[g] += 1
        pred_count[p] += 1
        if g == p:
            err = abs(pred_dist[i] - gt_dist[i])
            for j in range(thresholds.size):
                if err < thresholds[j]:
                    tp_count[j, g] += 1
            if with_flow and err < thresholds[flow_j]:
                dx = gt_flow[i, 0] - pred_flow[i, 0]
                dy = gt_flow[i, 1] - pred_flow[i, 1]
                flow_sum[g] += np.float64(np.sqrt(dx * dx + dy * dy))
                flow_count[g] += 1


# --- metric ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaySampleCounts:
    """RayIoU counts of one sample (C classes, n_t thresholds): ``gt`` (C,) and ``pred`` (C,) int64
    rays per GT / predicted label among rays whose GT is not free, ``tp`` (n_t, C) int64 true
    positives per threshold; ``flow_error_sum`` (C,) float64 and ``flow_count`` (C,) int64 of the TP
    rays at the flow threshold (per GT class), None without flow."""

    gt: np.ndarray
    pred: np.ndarray
    tp: np.ndarray
    flow_error_sum: np.ndarray | None = None
    flow_count: np.ndarray | None = None


@dataclass(frozen=True)
class RayIoUConfig:
    """Grid, label set and thresholds; ``flow_classes`` by name (OpenOcc CVPR2024 list)."""

    grid: GridSpec = field(default_factory=GridSpec.occ3d_nuscenes)
    labels: LabelSet = field(default_factory=LabelSet.occ3d)
    thresholds_m: tuple[float, ...] = THRESHOLDS_M
    flow_classes: tuple[str, ...] = FLOW_CLASSES
    flow_threshold_m: float = 2.0

    def __post_init__(self) -> None:
        if self.labels.free_index is None:
            raise ValidationError(f"RayIoUConfig.labels: label set {self.labels.name} has no free class")
        if self.flow_threshold_m not in self.thresholds_m:
            raise ValidationError("RayIoUConfig.flow_threshold_m: must be one of thresholds_m")
        for name in self.flow_classes:
            self.labels.index(name)


class RayIoUMetric(Metric):
    """Streaming ``occ/rayiou``, ``occ/rayiou@{1,2,4}m``, ``occ/rayiou/<class>`` (mean over thresholds),
    and, once flow was given, ``flow/mave``, ``flow/ave/<class>`` and ``occ/score``.

    ``update((gt_semantics, pred_semantics, origins_m[, gt_flow, pred_flow]))``.
    """

    def __init__(self, config: RayIoUConfig | None = None) -> None:
        self.config = config or RayIoUConfig()
        self.reset()

    def reset(self) -> None:
        c, n_t = self.config.labels.num_classes, len(self.config.thresholds_m)
        self.gt_count = np.zeros(c, dtype=np.int64)
        self.pred_count = np.zeros(c, dtype=np.int64)
        self.tp_count = np.zeros((n_t, c), dtype=np.int64)
        self.flow_error_sum = np.zeros(c, dtype=np.float64)
        self.flow_count = np.zeros(c, dtype=np.int64)
        self.n_samples = 0
        self.has_flow = False

    def update(self, record: tuple) -> None:
        gt, pred, origins_m, *flows = record
        gt_flow, pred_flow = [*flows, None, None][:2]
        self.update_arrays(gt, pred, origins_m, gt_flow, pred_flow)

    def update_arrays(
        self,
        gt_semantics: np.ndarray,
        pred_semantics: np.ndarray,
        origins_m: np.ndarray,
        gt_flow: np.ndarray | None = None,
        pred_flow: np.ndarray | None = None,
    ) -> tuple[RayRecords, RayRecords]:
        """Cast, accumulate one sample, and return its (GT, prediction) per-ray records."""
        if (gt_flow is None) != (pred_flow is None):
            raise ValidationError("RayIoUMetric: give both gt_flow and pred_flow, or neither")
        cfg = self.config
        gt_rec, pred_rec = cast_rays(
            [gt_semantics, pred_semantics], origins_m, cfg.grid, cfg.labels, [gt_flow, pred_flow]
        )
        self.add_records(gt_rec, pred_rec)
        return gt_rec, pred_rec

    def add_records(self, gt: RayRecords, pred: RayRecords) -> None:
        """Accumulate precomputed per-ray records of one sample (same rays, in the same order)."""
        self.add_counts(self.sample_counts(gt, pred))

    def sample_counts(self, gt: RayRecords, pred: RayRecords) -> RaySampleCounts:
        """One sample's counts from its per-ray records, without touching the accumulator (safe to
        call from several threads). The records may hold any subset of the sample's rays that keeps
        every ray whose GT label is not free: the others count nowhere."""
        cfg = self.config
        for name, rec in (("GT", gt), ("prediction", pred)):
            check_array(rec.label, f"{name} ray labels", (len(gt.label),), np.uint8)
            check_array(rec.dist_m, f"{name} ray depths", (len(gt.label),), np.float32)
            cfg.labels.validate(rec.label, f"{name} ray labels")
        c = cfg.labels.num_classes
        thresholds = np.asarray(cfg.thresholds_m, dtype=np.float32)
        with_flow = gt.flow is not None and pred.flow is not None
        flows = [np.ascontiguousarray(r.flow) if with_flow else np.empty((0, 2), np.float32) for r in (gt, pred)]
        if with_flow:
            for name, f in zip(("GT", "prediction"), flows, strict=True):
                check_array(f, f"{name} ray flow", (len(gt.label), 2), np.float32)
        gt_n, pred_n, tp = np.zeros(c, np.int64), np.zeros(c, np.int64), np.zeros((len(thresholds), c), np.int64)
        flow_sum, flow_n = np.zeros(c, np.float64), np.zeros(c, np.int64)
        _count_rays(
            gt.label, pred.label, gt.dist_m, pred.dist_m, thresholds, cfg.labels.free_index,
            cfg.thresholds_m.index(cfg.flow_threshold_m), *flows, gt_n, pred_n, tp, flow_sum, flow_n,
        )  # fmt: skip
        return RaySampleCounts(gt_n, pred_n, tp, *((flow_sum, flow_n) if with_flow else (None, None)))

    def add_counts(self, counts: RaySampleCounts) -> None:
        """Accumulate one sample's ``sample_counts`` (samples added in the same order give the same
        floating-point flow sums)."""
        self.gt_count += counts.gt
        self.pred_count += counts.pred
        self.tp_count += counts.tp
        if counts.flow_error_sum is not None:
            self.has_flow = True
            self.flow_error_sum += counts.flow_error_sum
            self.flow_count += counts.flow_count
        self.n_samples += 1

    def iou(self) -> np.ndarray:
        """(n_thresholds, C - 1) IoU fractions, classes without free (NaN where no GT and no pred ray)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = self.tp_count / (self.gt_count + self.pred_count - self.tp_count)
        return np.delete(iou, self.config.labels.free_index, axis=1)

    def compute(self) -> dict[str, float]:
        cfg = self.config
        iou = self.iou()
        finite = np.isfinite(iou).any()
        out = {"occ/rayiou": float(np.nanmean(iou) * 100) if finite else float("nan")}
        for j, thr in enumerate(cfg.thresholds_m):
            out[f"occ/rayiou@{thr:g}m"] = float(np.nanmean(iou[j]) * 100) if finite else float("nan")
        names = [n for i, n in enumerate(cfg.labels.class_names) if i != cfg.labels.free_index]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: class never seen
            per_class = np.nanmean(iou, axis=0)
        for name, v in zip(names, per_class, strict=True):
            out[f"occ/rayiou/{name}"] = float(v * 100)
        if self.has_flow:
            idx = [cfg.labels.index(n) for n in cfg.flow_classes]
            with np.errstate(divide="ignore", invalid="ignore"):
                ave = self.flow_error_sum[idx] / self.flow_count[idx]
            mave = float(np.nanmean(ave)) if np.isfinite(ave).any() else float("nan")
            out["flow/mave"] = mave
            for name, v in zip(cfg.flow_classes, ave, strict=True):
                out[f"flow/ave/{name}"] = float(v)
            out["occ/score"] = occ_score(out["occ/rayiou"] / 100, mave) * 100
        out["occ/rayiou_n_samples"] = float(self.n_samples)
        return out

    def state(self) -> dict:
        """JSON-able accumulator state; ``merge_state`` of another instance adds it (scale-out, resume)."""
        return {
            "gt_count": self.gt_count.tolist(),
            "pred_count": self.pred_count.tolist(),
            "tp_count": self.tp_count.tolist(),
            "flow_error_sum": self.flow_error_sum.tolist(),
            "flow_count": self.flow_count.tolist(),
            "n_samples": self.n_samples,
            "has_flow": self.has_flow,
        }

    def merge_state(self, state: dict) -> None:
        """Add a ``state()`` of an instance with the same label set and thresholds."""
        tp = np.asarray(state["tp_count"], dtype=np.int64)
        if tp.shape != self.tp_count.shape:
            raise ValidationError(f"RayIoUMetric.merge_state: tp_count shape {tp.shape} != {self.tp_count.shape}")
        self.gt_count += np.asarray(state["gt_count"], dtype=np.int64)
        self.pred_count += np.asarray(state["pred_count"], dtype=np.int64)
        self.tp_count += tp
        self.flow_error_sum += np.asarray(state["flow_error_sum"], dtype=np.float64)
        self.flow_count += np.asarray(state["flow_count"], dtype=np.int64)
        self.n_samples += int(state["n_samples"])
        self.has_flow = self.has_flow or bool(state["has_flow"])


def occ_score(rayiou: float, mave: float) -> float:
    """CVPR2024 OccScore = 0.9 RayIoU + 0.1 max(1 - mAVE, 0) (RayIoU as a fraction)."""
    return 0.9 * rayiou + 0.1 * max(1.0 - mave, 0.0)


def _update(metric: RayIoUMetric, step: OccupancyStep) -> None:
    gt, pred = step.gt, step.pred
    flows = (gt.flow, pred.flow) if gt.flow is not None and pred.flow is not None else (None, None)
    metric.update_arrays(gt.semantics, pred.semantics, step.ray_origins_m, *flows)


def _compute(metric: RayIoUMetric) -> dict[str, float]:
    return metric.compute() if metric.n_samples else {}


def _create(context: MetricContext) -> RayIoUMetric:
    return RayIoUMetric(RayIoUConfig(context.grid, context.labels))


RAYIOU_SPEC = MetricSpec(
    name="ray",
    version=1,
    passes={"open": "", "closed": "closed/"},
    record=OccupancyStep,
    create=_create,
    update=_update,
    compute=_compute,
)
