"""nuScenes-lidarseg mIoU: a hand-computed 17x17 case with ignore, agreement with the devkit's
ConfusionMatrix, and the voxel-lookup route with coverage."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.metrics.lidarseg import LidarSegMetric
from occplan.types import GridSpec, LabelSet

# general labels: 17 car -> 4, 24 driveable -> 11, 0 noise -> ignore, 2 adult -> 7
GT = np.array([17, 17, 17, 24, 24, 0, 0, 2], dtype=np.uint8)
PRED = np.array([4, 4, 11, 11, 4, 4, 11, 10], dtype=np.uint8)


def test_hand_case_with_ignore():
    m = LidarSegMetric()
    m.update((GT, PRED))
    res = m.compute()
    assert res["lidarseg/iou/car"] == pytest.approx(50.0)  # tp 2 / (3 + 3 - 2); ignore rows dropped
    assert res["lidarseg/iou/driveable_surface"] == pytest.approx(100 / 3)
    assert res["lidarseg/iou/pedestrian"] == 0.0
    assert res["lidarseg/iou/truck"] == 0.0  # predicted only
    assert np.isnan(res["lidarseg/iou/bus"])
    assert res["lidarseg/miou"] == pytest.approx(100 * (0.5 + 1 / 3) / 4)
    assert res["lidarseg/coverage"] == 1.0
    assert m.confusion.shape == (17, 17) and m.confusion[0].sum() == 0


def test_agrees_with_devkit_confusion_matrix():
    from nuscenes.eval.lidarseg.utils import ConfusionMatrix

    rng = np.random.default_rng(3)
    ours = LidarSegMetric()
    ref = ConfusionMatrix(17, ignore_idx=0)
    table = LabelSet.lidarseg_general().table_to(LabelSet.lidarseg_challenge())
    for _ in range(3):
        gt = rng.integers(0, 32, 5000).astype(np.uint8)
        pred = rng.integers(1, 17, 5000).astype(np.uint8)
        ours.update((gt, pred))
        ref.update(table[gt].astype(np.int64), pred.astype(np.int64))
    assert ours.compute()["lidarseg/miou"] == pytest.approx(100 * ref.get_mean_iou(), abs=1e-9)


def test_voxel_route_misses_and_coverage():
    grid = GridSpec("small", (0.0, 0.0, 0.0), 1.0, (4, 4, 2), "ego")
    labels = LabelSet.occ3d()
    sem = np.full(grid.shape, 17, dtype=np.uint8)
    sem[0, 0, 0] = 4  # car
    sem[1, 0, 0] = 0  # others
    points = np.array([[0.5, 0.5, 0.5], [0.2, 0.1, 0.3], [1.5, 0.5, 0.5], [2.5, 0.5, 0.5], [9.0, 0.5, 0.5]])
    gt = np.array([17, 17, 17, 17, 17], dtype=np.uint8)  # all cars
    m = LidarSegMetric()
    m.update_from_voxels(points, gt, sem, grid, labels)
    res = m.compute()
    # 4 in-grid car points: 2 hit the car voxel, one lands in others, one in free -> misses
    assert res["lidarseg/iou/car"] == pytest.approx(50.0)
    assert res["lidarseg/miou"] == pytest.approx(50.0)
    assert res["lidarseg/coverage"] == pytest.approx(0.8)


def test_invalid_lidarseg_inputs():
    m = LidarSegMetric()
    with pytest.raises(ValidationError, match="predicted 0"):
        m.update((GT, np.zeros_like(PRED)))
    with pytest.raises(ValidationError, match="outside"):
        m.update((GT, np.full_like(PRED, 17)))
    with pytest.raises(ValidationError, match="GT labels"):
        m.update((np.full_like(GT, 40), PRED))
    with pytest.raises(ValidationError, match="shape"):
        m.update((GT, PRED[:3]))
