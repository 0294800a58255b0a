"""Golden values of the CVPR2023 Occ3D mIoU (reference §1.6) and fast-vs-reference agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from occplan.errors import ValidationError
from occplan.metrics.confusion import ConfusionMatrix, confusion_bincount, confusion_counts
from occplan.metrics.occupancy import OccupancyMetric, OccupancyMetricConfig
from occplan.types import GridSpec, LabelSet, OccupancyFrame, OccupancyPrediction

N = float("nan")


@pytest.fixture(scope="module")
def occ3d(occ3d_sample_path):
    with np.load(occ3d_sample_path, allow_pickle=False) as z:
        return z["semantics"], z["mask_camera"], z["mask_lidar"]


def _score(gt, pred, mask_camera, mask_lidar):
    m = OccupancyMetric()
    m.update_arrays(gt, pred, mask_camera, mask_lidar)
    return m.compute()


def _per_class(res):
    return [res[f"occ/iou/{n}"] for n in LabelSet.occ3d().class_names]


def test_identity_is_100(occ3d):
    gt, cam, lid = occ3d
    res = _score(gt, gt.copy(), cam, lid)
    assert res["occ/miou"] == pytest.approx(100.0)
    assert res["occ/miou_lidar_mask"] == pytest.approx(100.0)
    assert res["occ/iou_geo"] == pytest.approx(100.0)
    nan_classes = [i for i, v in enumerate(_per_class(res)) if np.isnan(v)]
    assert nan_classes == [2, 5, 7, 8, 9, 10, 12]


def test_x_shift_golden(occ3d):
    gt, cam, lid = occ3d
    res = _score(gt, np.roll(gt, 1, axis=0), cam, lid)
    assert round(res["occ/miou"], 2) == 67.32
    assert res["occ/miou"] == pytest.approx(67.3214, abs=1e-4)
    want = [44.53, 54.93, N, 64.76, 78.59, N, 65.48, N, N, N, N, 93.10, N, 84.84, 80.67, 53.00, 53.31, 76.51]
    np.testing.assert_allclose(np.round(_per_class(res), 2), want, equal_nan=True)


def test_z_shift_golden(occ3d):
    gt, cam, lid = occ3d
    res = _score(gt, np.roll(gt, 1, axis=2), cam, lid)
    assert res["occ/miou"] == pytest.approx(54.2533, abs=1e-4)
    want = [72.58, 65.33, N, 80.32, 77.06, N, 77.11, N, N, N, N, 0.00, N, 20.35, 0.38, 72.82, 76.59, 64.25]
    np.testing.assert_allclose(np.round(_per_class(res), 2), want, equal_nan=True)


def test_all_free_and_predicted_only_class(occ3d):
    gt, cam, lid = occ3d
    res = _score(gt, np.full_like(gt, 17), cam, lid)
    assert res["occ/miou"] == 0.0
    assert round(res["occ/iou/free"], 2) == 47.26
    pred = gt.copy()
    free_visible = np.argwhere((gt == 17) & cam.astype(bool))[:50]
    pred[tuple(free_visible.T)] = 2
    res = _score(gt, pred, cam, lid)
    assert res["occ/iou/bicycle"] == 0.0
    assert res["occ/miou"] == pytest.approx(90.9091, abs=1e-4)


def test_uint8_mask_is_used_as_bool(occ3d):
    """A uint8 mask must not be used for integer fancy indexing (reference §1.2)."""
    gt, cam, _ = occ3d
    assert cam.dtype == np.uint8
    pred = np.roll(gt, 1, axis=0)
    a = confusion_counts(gt, pred, 18, cam)
    np.testing.assert_array_equal(a, confusion_bincount(gt, pred, 18, cam.astype(bool)))
    assert a.sum() == int(cam.sum()) == 43355


def test_occupancy_frame_update_matches_arrays(occ3d):
    gt, cam, lid = occ3d
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    frame = OccupancyFrame(gt, grid, labels, mask_lidar=lid.astype(bool), mask_camera=cam.astype(bool))
    m = OccupancyMetric()
    m.update((frame, OccupancyPrediction(np.roll(gt, 1, axis=0), grid, labels)))
    assert m.compute()["occ/miou"] == pytest.approx(67.3214, abs=1e-4)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.tuples(st.integers(1, 17), st.integers(1, 9), st.integers(1, 5)),
    num_classes=st.integers(2, 20),
    masked=st.booleans(),
)
def test_fast_path_matches_bincount(seed, shape, num_classes, masked):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, num_classes, shape, dtype=np.uint8)
    pred = rng.integers(0, num_classes, shape, dtype=np.uint8)
    mask = rng.integers(0, 2, shape, dtype=np.uint8) if masked else None
    np.testing.assert_array_equal(
        confusion_counts(gt, pred, num_classes, mask), confusion_bincount(gt, pred, num_classes, mask)
    )


def test_large_parallel_path_matches_bincount():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 18, (200, 200, 16), dtype=np.uint8)
    pred = rng.integers(0, 18, (200, 200, 16), dtype=np.uint8)
    mask = rng.random((200, 200, 16)) < 0.3
    cm = ConfusionMatrix(18)
    cm.update(gt, pred, mask)
    cm.update(gt, pred)
    want = confusion_bincount(gt, pred, 18, mask) + confusion_bincount(gt, pred, 18)
    np.testing.assert_array_equal(cm.hist, want)


def test_invalid_inputs_raise():
    gt = np.zeros((200, 200, 16), dtype=np.uint8)
    m = OccupancyMetric(OccupancyMetricConfig(masks=("none",)))
    bad = gt.copy()
    bad[3, 4, 5] = 18
    with pytest.raises(ValidationError, match=r"prediction.*outside \[0, 18\)"):
        m.update_arrays(gt, bad)
    with pytest.raises(ValidationError, match="ground truth"):
        m.update_arrays(bad, gt)
    with pytest.raises(ValidationError, match="shape"):
        m.update_arrays(gt, gt[:, :, :8])
    with pytest.raises(ValidationError, match="unsigned integer"):
        m.update_arrays(gt, gt.astype(np.float32))
    with pytest.raises(ValidationError, match="mask_camera is missing"):
        OccupancyMetric().update_arrays(gt, gt)
    with pytest.raises(ValidationError, match="valid entries"):
        OccupancyMetricConfig(masks=("radar",))
    other = GridSpec.openocc_v1()
    with pytest.raises(ValidationError, match="grid"):
        OccupancyMetric().update(
            (OccupancyFrame(gt, other, LabelSet.occ3d()), OccupancyPrediction(gt, other, LabelSet.occ3d()))
        )
