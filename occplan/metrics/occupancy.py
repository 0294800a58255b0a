"""Occupancy mIoU (Occ3D / CVPR2023 protocol) and its mask variants, as a streaming accumulator.

Per sample, the voxels inside a mask (camera for ``occ/miou``, LiDAR for ``occ/miou_lidar_mask``,
none for ``occ/miou_nomask``) are added to one global (C, C) confusion matrix per variant, rows =
GT. ``IoU_c = tp / (row + col - tp)``; mIoU = nanmean over every class except free, x100: a class
never in GT but predicted scores 0, a class in neither is NaN and skipped (CVPR2023
``Metric_mIoU``, not SparseOcc ``old_metrics``). ``occ/iou_geo`` is occupied-vs-free IoU read off
the camera-mask matrix.

``OCCUPANCY_SPEC`` is its registry entry, ``occ`` (open and closed pass): ``RunOccupancyMetric``
takes the mask variants the first GT frame supports, and gives each step its ``occ_iou_geo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.metrics.confusion import ConfusionMatrix, confusion_counts_per_mask, iou_per_class
from occplan.metrics.records import OccupancyStep
from occplan.metrics.registry import MetricContext, MetricSpec
from occplan.types import GridSpec, LabelSet, OccupancyFrame, OccupancyPrediction

MASKS = ("camera", "lidar", "none")
_KEY = {"camera": "occ/miou", "lidar": "occ/miou_lidar_mask", "none": "occ/miou_nomask"}


def miou_from_confusion(hist: np.ndarray, free_index: int) -> float:
    """mIoU x100 of a (C, C) GT-row confusion matrix: nanmean of per-class IoU without ``free_index``."""
    iou = np.delete(iou_per_class(hist), free_index)
    return float(np.nanmean(iou) * 100) if np.any(np.isfinite(iou)) else float("nan")


def geometric_iou(hist: np.ndarray, free_index: int) -> float:
    """Occupied-vs-free IoU x100 from a (C, C) GT-row confusion matrix."""
    occ = np.ones(hist.shape[0], dtype=bool)
    occ[free_index] = False
    tp = hist[np.ix_(occ, occ)].sum()
    fp = hist[free_index, occ].sum()
    fn = hist[occ, free_index].sum()
    denom = tp + fp + fn
    return float(tp / denom * 100) if denom else float("nan")


@dataclass(frozen=True)
class OccupancyMetricConfig:
    """Which grid and label set the metric accepts, and which mask variants it accumulates."""

    grid: GridSpec = field(default_factory=GridSpec.occ3d_nuscenes)
    labels: LabelSet = field(default_factory=LabelSet.occ3d)
    masks: tuple[str, ...] = MASKS

    def __post_init__(self) -> None:
        unknown = [m for m in self.masks if m not in MASKS]
        if unknown or not self.masks:
            raise ValidationError(f"OccupancyMetricConfig.masks: {self.masks!r}; valid entries: {', '.join(MASKS)}")
        if self.labels.free_index is None:
            raise ValidationError(f"OccupancyMetricConfig.labels: label set {self.labels.name} has no free class")


class OccupancyMetric(Metric):
    """Streaming ``occ/miou``, ``occ/miou_lidar_mask``, ``occ/miou_nomask``, ``occ/iou_geo``, ``occ/iou/<class>``.

    ``update((gt, pred))`` takes an ``OccupancyFrame`` and an ``OccupancyPrediction`` on the
    configured grid and label set; ``update_arrays`` takes raw (X, Y, Z) arrays.
    """

    def __init__(self, config: OccupancyMetricConfig | None = None) -> None:
        self.config = config or OccupancyMetricConfig()
        n = self.config.labels.num_classes
        self._cm = {m: ConfusionMatrix(n) for m in self.config.masks}
        self.n_frames = 0

    def reset(self) -> None:
        for cm in self._cm.values():
            cm.reset()
        self.n_frames = 0

    def update(self, record: tuple[OccupancyFrame, OccupancyPrediction]) -> dict[str, np.ndarray]:
        """Add one sample; returns its (C, C) counts per mask variant."""
        counts = self.record_counts(record)
        self.add_counts(counts)
        return counts

    def record_counts(self, record: tuple[OccupancyFrame, OccupancyPrediction]) -> dict[str, np.ndarray]:
        """``sample_counts`` of a (GT frame, prediction) pair, after checking its grid and label sets."""
        gt, pred = record
        cfg = self.config
        cfg.grid.require(gt.grid, f"OccupancyMetric: ground truth {gt.source or ''} grid")
        cfg.grid.require(pred.grid, "OccupancyMetric: prediction grid")
        cfg.labels.require(gt.labels, "OccupancyMetric: ground-truth labels")
        cfg.labels.require(pred.labels, "OccupancyMetric: prediction labels")
        return self.sample_counts(gt.semantics, pred.semantics, gt.mask_camera, gt.mask_lidar, source=gt.source)

    def update_arrays(
        self,
        gt_semantics: np.ndarray,
        pred_semantics: np.ndarray,
        mask_camera: np.ndarray | None = None,
        mask_lidar: np.ndarray | None = None,
        source: str = "",
    ) -> dict[str, np.ndarray]:
        """Add one sample. Arrays (X, Y, Z) on the configured grid; masks any dtype, used as bool.
        Returns the sample's own (C, C) counts per mask variant."""
        counts = self.sample_counts(gt_semantics, pred_semantics, mask_camera, mask_lidar, source)
        self.add_counts(counts)
        return counts

    def sample_counts(
        self,
        gt_semantics: np.ndarray,
        pred_semantics: np.ndarray,
        mask_camera: np.ndarray | None = None,
        mask_lidar: np.ndarray | None = None,
        source: str = "",
    ) -> dict[str, np.ndarray]:
        """One sample's (C, C) counts per mask variant (arguments as ``update_arrays``), without
        touching the accumulator (safe to call from several threads; ``add_counts`` adds them)."""
        where = f"occupancy sample {source}".strip()
        shape = self.config.grid.shape
        for name, arr in (("ground truth", gt_semantics), ("prediction", pred_semantics)):
            if arr.shape != shape:
                raise ValidationError(f"{where}: {name} shape {arr.shape}, expected grid {shape}")
        masks = {"camera": mask_camera, "lidar": mask_lidar, "none": None}
        for variant in self._cm:
            if variant != "none" and masks[variant] is None:
                raise ValidationError(f"{where}: mask_{variant} is missing (needed for {_KEY[variant]})")
        n = self.config.labels.num_classes
        variant_masks = tuple(masks[v] for v in self._cm)
        per_mask = confusion_counts_per_mask(gt_semantics, pred_semantics, n, variant_masks, f"{where} semantics")
        return dict(zip(self._cm, per_mask, strict=True))

    def add_counts(self, counts: dict[str, np.ndarray]) -> None:
        """Add one sample's ``sample_counts``."""
        for variant, cm in self._cm.items():
            cm.add(counts[variant])
        self.n_frames += 1

    def confusion(self, variant: str = "camera") -> np.ndarray:
        """The accumulated (C, C) matrix of one mask variant (rows = GT)."""
        return self._cm[variant].hist.copy()

    def compute(self) -> dict[str, float]:
        labels = self.config.labels
        free = labels.free_index
        out: dict[str, float] = {}
        for variant, cm in self._cm.items():
            out[_KEY[variant]] = miou_from_confusion(cm.hist, free)
        main = "camera" if "camera" in self._cm else self.config.masks[0]
        hist = self._cm[main].hist
        out["occ/iou_geo"] = geometric_iou(hist, free)
        for name, v in zip(labels.class_names, iou_per_class(hist), strict=True):
            out[f"occ/iou/{name}"] = float(v * 100)
        out["occ/n_frames"] = float(self.n_frames)
        return out

    def state(self) -> dict:
        """JSON-able accumulator state; ``merge_state`` of another instance adds it (scale-out, resume)."""
        return {
            "masks": list(self._cm),
            "hist": {m: cm.hist.tolist() for m, cm in self._cm.items()},
            "n_frames": self.n_frames,
        }

    def merge_state(self, state: dict) -> None:
        """Add a ``state()`` of an instance with the same mask variants."""
        if list(state["masks"]) != list(self._cm):
            raise ValidationError(f"OccupancyMetric.merge_state: masks {state['masks']} != {list(self._cm)}")
        for m, cm in self._cm.items():
            cm.add(np.asarray(state["hist"][m], dtype=np.int64))
        self.n_frames += int(state["n_frames"])


def mask_variants(gt: OccupancyFrame) -> tuple[str, ...]:
    """Mask variants a GT frame supports: camera (``occ/miou``), LiDAR and none with both visibility
    masks, else only none (``occ/miou_nomask``)."""
    return ("camera", "lidar", "none") if gt.mask_camera is not None and gt.mask_lidar is not None else ("none",)


class RunOccupancyMetric:
    """The ``OccupancyMetric`` of a pass, created with the mask variants of the first GT frame (or of
    the first merged state); later frames must support the same. None (state None) until then."""

    def __init__(self, context: MetricContext) -> None:
        self.context = context
        self.metric: OccupancyMetric | None = None

    def _with_masks(self, masks: tuple[str, ...]) -> OccupancyMetric:
        if self.metric is None:
            self.metric = OccupancyMetric(OccupancyMetricConfig(self.context.grid, self.context.labels, masks))
        elif self.metric.config.masks != masks:
            raise ValidationError(
                f"occupancy GT: mask variants {masks} differ from earlier frames' {self.metric.config.masks}"
            )
        return self.metric

    def update(self, step: OccupancyStep) -> dict[str, float]:
        """Add one sample; returns its own ``occ_iou_geo`` (first mask variant) for the step log."""
        variants = mask_variants(step.gt)
        counts = self._with_masks(variants).update((step.gt, step.pred))
        return {"occ_iou_geo": geometric_iou(counts[variants[0]], self.context.labels.free_index)}

    def compute(self) -> dict[str, float]:
        return self.metric.compute() if self.metric is not None else {}

    def state(self) -> dict | None:
        return self.metric.state() if self.metric is not None else None

    def merge_state(self, state: dict | None) -> None:
        if state is not None:
            self._with_masks(tuple(state["masks"])).merge_state(state)


OCCUPANCY_SPEC = MetricSpec(
    name="occ",
    version=1,
    passes={"open": "", "closed": "closed/"},
    record=OccupancyStep,
    create=RunOccupancyMetric,
    update=RunOccupancyMetric.update,
    compute=RunOccupancyMetric.compute,
)
