"""nuScenes-lidarseg mIoU (devkit ``LidarSegEval`` protocol) from point or voxel predictions.

GT: general (32-class) point labels mapped to the 16 challenge classes with the devkit table
(``LabelSet.lidarseg_general().table_to(LabelSet.lidarseg_challenge())``); 0 = ignore. One global
17x17 confusion matrix (rows = GT) over every keyframe point; row 0 is zeroed (points whose GT is
ignore do not count); IoU = tp / (row + col - tp); mIoU = nanmean over classes 1..16, x100.

Point predictions (a point head) must be challenge labels 1..16 (the devkit asserts pred > 0).
Voxel predictions (occupancy-only models) give each point the label of the voxel containing it
(``floor((p - range_min) / voxel)``); a voxel labelled free or ``others`` maps to no challenge class
and the point counts as a miss for its GT class (column 0, kept in the row sums). Points outside
the grid are excluded; ``lidarseg/coverage`` is the share of non-ignore GT points inside the grid.

``LIDARSEG_SPEC`` is its registry entry, ``lidarseg`` (open and closed pass, ``LidarSegStep`` records).
"""

from __future__ import annotations

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.metrics.confusion import ConfusionMatrix, iou_per_class
from occplan.metrics.records import LidarSegStep
from occplan.metrics.registry import MetricContext, MetricSpec
from occplan.types import UNMAPPED, GridSpec, LabelSet
from occplan.types._check import check_array

CHALLENGE = LabelSet.lidarseg_challenge()
GENERAL = LabelSet.lidarseg_general()


class LidarSegMetric(Metric):
    """Streaming ``lidarseg/miou``, ``lidarseg/iou/<class>``, ``lidarseg/coverage``, ``lidarseg/n_points``.

    ``update((gt_general, pred_challenge))`` for point predictions; ``update_from_voxels`` for
    voxel predictions.
    """

    def __init__(self) -> None:
        self._cm = ConfusionMatrix(CHALLENGE.num_classes)
        self._to_challenge = GENERAL.table_to(CHALLENGE)
        self.reset()

    def reset(self) -> None:
        self._cm.reset()
        self.n_points_gt = 0
        self.n_points_in_grid = 0

    def _gt(self, gt_general: np.ndarray, field: str) -> np.ndarray:
        check_array(gt_general, field, (None,), np.uint8)
        GENERAL.validate(gt_general, field)
        return self._to_challenge[gt_general]

    def update(self, record: tuple[np.ndarray, np.ndarray]) -> None:
        """One point cloud: (N,) uint8 general GT labels and (N,) uint8 challenge predictions 1..16."""
        gt_general, pred = record
        gt = self._gt(gt_general, "lidarseg GT labels")
        check_array(pred, "lidarseg point predictions", (len(gt),), np.uint8)
        CHALLENGE.validate(pred, "lidarseg point predictions")
        if np.any(pred == 0):
            raise ValidationError(f"lidarseg point predictions: {int(np.sum(pred == 0))} points predicted 0 (ignore)")
        self._add(gt, pred, np.ones(len(gt), dtype=bool))

    def update_from_voxels(
        self,
        points_m: np.ndarray,
        gt_general: np.ndarray,
        pred_semantics: np.ndarray,
        grid: GridSpec,
        labels: LabelSet,
    ) -> None:
        """One point cloud scored through a voxel prediction.

        ``points_m`` (N, 3+) keyframe points in the grid's frame; ``gt_general`` (N,) uint8;
        ``pred_semantics`` (X, Y, Z) uint8 in ``labels`` on ``grid``.
        """
        gt = self._gt(gt_general, "lidarseg GT labels")
        check_array(points_m, "lidarseg points_m", (len(gt), None), finite=True)
        check_array(pred_semantics, "voxel prediction semantics", grid.shape, np.uint8)
        labels.validate(pred_semantics, "voxel prediction semantics")
        idx = grid.index_of(points_m)
        inside = grid.in_bounds(idx)
        table = labels.table_to(CHALLENGE)
        table = np.where(table == UNMAPPED, 0, table).astype(np.uint8)
        pred = np.zeros(len(gt), dtype=np.uint8)
        pred[inside] = table[pred_semantics[tuple(idx[inside].T)]]
        self._add(gt, pred, inside)

    def _add(self, gt: np.ndarray, pred: np.ndarray, inside: np.ndarray) -> None:
        counted = gt != 0
        self.n_points_gt += int(counted.sum())
        self.n_points_in_grid += int((counted & inside).sum())
        self._cm.update(gt, pred, inside, field="lidarseg labels")

    @property
    def confusion(self) -> np.ndarray:
        """(17, 17) accumulated matrix, rows = GT, row 0 (ignore) zeroed."""
        hist = self._cm.hist.copy()
        hist[0] = 0
        return hist

    def compute(self) -> dict[str, float]:
        iou = iou_per_class(self.confusion)[1:]
        out = {"lidarseg/miou": float(np.nanmean(iou) * 100) if np.isfinite(iou).any() else float("nan")}
        for name, v in zip(CHALLENGE.class_names[1:], iou, strict=True):
            out[f"lidarseg/iou/{name}"] = float(v * 100)
        out["lidarseg/coverage"] = self.n_points_in_grid / self.n_points_gt if self.n_points_gt else float("nan")
        out["lidarseg/n_points"] = float(self.n_points_gt)
        return out

    def state(self) -> dict:
        """JSON-able accumulator state; ``merge_state`` of another instance adds it (scale-out, resume)."""
        return {
            "hist": self._cm.hist.tolist(),
            "n_points_gt": self.n_points_gt,
            "n_points_in_grid": self.n_points_in_grid,
        }

    def merge_state(self, state: dict) -> None:
        """Add a ``state()`` of another instance."""
        self._cm.add(np.asarray(state["hist"], dtype=np.int64))
        self.n_points_gt += int(state["n_points_gt"])
        self.n_points_in_grid += int(state["n_points_in_grid"])


def _update(metric: LidarSegMetric, step: LidarSegStep) -> None:
    if step.point_labels is not None:
        metric.update((step.gt_general, step.point_labels))
    else:
        pred = step.pred
        metric.update_from_voxels(step.points_m, step.gt_general, pred.semantics, pred.grid, pred.labels)


def _compute(metric: LidarSegMetric) -> dict[str, float]:
    return metric.compute() if metric.n_points_gt else {}


def _create(context: MetricContext) -> LidarSegMetric:
    return LidarSegMetric()


LIDARSEG_SPEC = MetricSpec(
    name="lidarseg",
    version=1,
    passes={"open": "", "closed": "closed/"},
    record=LidarSegStep,
    create=_create,
    update=_update,
    compute=_compute,
)
