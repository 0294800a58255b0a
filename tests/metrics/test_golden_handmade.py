"""Golden values on small hand-built frames, derived by hand below: occupancy mIoU (Occ3D CVPR2023
protocol), RayIoU (a few axis-parallel rays whose traversal is followed voxel by voxel) and
nuScenes-lidarseg mIoU. They need no data beside the checkout; the real-sample goldens in
test_occupancy.py / test_rayiou.py are extra checks where ../shared is present."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.metrics import (
    LidarSegMetric,
    OccupancyMetric,
    OccupancyMetricConfig,
    RayIoUConfig,
    RayIoUMetric,
    cast_rays,
)
from occplan.types import GridSpec, LabelSet

OCC3D = LabelSet.occ3d()
CAR, TRUCK, BUS, PED, BARRIER, ROAD, VEG, FREE = 4, 10, 3, 7, 1, 11, 16, 17


# --- occupancy mIoU ---------------------------------------------------------------------------
# Twelve voxels on a (3, 4, 1) grid, in C order:
#   voxel   0    1    2     3     4     5     6     7      8     9    10   11
#   GT      car  car  car   road  road  road  free  free   free  ped  bus  free
#   pred    car  car  road  road  road  free  free  truck  car   car  bus  free
#   camera  1    1    1     1     1     1     1     1      1     0    0    0
#   lidar   0    0    0     1     1     1     1     1      1     1    0    0
OCC_GT = [CAR, CAR, CAR, ROAD, ROAD, ROAD, FREE, FREE, FREE, PED, BUS, FREE]
OCC_PRED = [CAR, CAR, ROAD, ROAD, ROAD, FREE, FREE, TRUCK, CAR, CAR, BUS, FREE]
MASK_CAMERA = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
MASK_LIDAR = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0]
OCC_GRID = GridSpec("hand-occ", (0.0, 0.0, 0.0), 1.0, (3, 4, 1), "ego")


def _occ_arrays(values: list[int], dtype=np.uint8) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(OCC_GRID.shape)


@pytest.fixture(scope="module")
def occ_result() -> dict[str, float]:
    m = OccupancyMetric(OccupancyMetricConfig(grid=OCC_GRID, labels=OCC3D))
    m.update_arrays(
        _occ_arrays(OCC_GT), _occ_arrays(OCC_PRED), _occ_arrays(MASK_CAMERA, bool), _occ_arrays(MASK_LIDAR, bool)
    )
    return m.compute()


def test_occupancy_miou_camera_mask_by_hand(occ_result):
    r = occ_result
    # camera mask (voxels 0-8): car tp 2 (0, 1), GT row 3 (0, 1, 2), pred column 3 (0, 1, 8) -> 2 / 4
    assert r["occ/iou/car"] == pytest.approx(50.0)
    # road tp 2 (3, 4), row 3 (3, 4, 5), column 3 (2, 3, 4) -> 2 / 4
    assert r["occ/iou/driveable_surface"] == pytest.approx(50.0)
    # truck: absent from GT, predicted once (7) -> 0 / (0 + 1 - 0) = 0, and it counts in the mean
    assert r["occ/iou/truck"] == 0.0
    # pedestrian (9) and bus (10) lie outside the camera mask; they and every other class are in
    # neither GT nor prediction -> NaN, skipped
    for name in ("pedestrian", "bus", "barrier", "vegetation", "others"):
        assert np.isnan(r[f"occ/iou/{name}"])
    # free: tp 1 (6), row 3 (6, 7, 8), column 2 (5, 6) -> 1 / 4, reported but not in the mean
    assert r["occ/iou/free"] == pytest.approx(25.0)
    # mIoU = mean(car 1/2, road 1/2, truck 0) = 1/3; with free it would be mean(.5, .5, 0, .25) = 31.25
    assert r["occ/miou"] == pytest.approx(100 / 3)
    # geometric IoU: occupied-occupied 5 (0-4), GT free / pred occupied 2 (7, 8), GT occupied / pred free 1 (5)
    assert r["occ/iou_geo"] == pytest.approx(100 * 5 / 8)
    assert r["occ/n_frames"] == 1.0


def test_occupancy_miou_other_masks_by_hand(occ_result):
    r = occ_result
    # no mask (all 12): car 2 / (3 + 4 - 2) = 2/5 (column adds 9); road 1/2; truck 0; pedestrian
    # 0 / (1 + 0) = 0; bus 1 / 1 = 1 -> (0.4 + 0.5 + 0 + 0 + 1) / 5 = 0.38
    assert r["occ/miou_nomask"] == pytest.approx(38.0)
    # LiDAR mask (3-9): car 0 / (0 + 2) = 0 (8, 9 predicted car); road 2 / (3 + 2 - 2) = 2/3;
    # truck 0; pedestrian 0 -> (0 + 2/3 + 0 + 0) / 4 = 1/6
    assert r["occ/miou_lidar_mask"] == pytest.approx(100 / 6)


# --- RayIoU -----------------------------------------------------------------------------------
# A (6, 3, 4) grid of 1 m voxels from the origin; one ray origin at (0.5, 1.5, 0.5), the centre of
# voxel (0, 1, 0), which is free in both frames; four axis-parallel rays. A ray's depth is the
# distance from the origin to the exit of the first occupied voxel (or of the last in-grid voxel).
#   ray  dir  GT                                  prediction                           counted as
#   0    +x   car (3,1,0): exit x = 4 -> 3.5 m    car (4,1,0): exit x = 5 -> 4.5 m     car, |err| 1.0
#   1    +y   barrier (0,2,0): exit y = 3 -> 1.5  nothing: last voxel (0,2,0), free    barrier vs free
#   2    -y   nothing: free -> ray dropped        truck (0,0,0): exit y = 0 -> 1.5     (dropped)
#   3    +z   vegetation (0,1,1): exit z = 2      vegetation (0,1,3): exit z = 4       vegetation, |err| 2.0
#             -> 1.5 m                            -> 3.5 m
# TP needs the same label and |err| < threshold (strict): car is TP at 2 and 4 m, not at 1 m (err 1.0);
# vegetation is TP at 4 m only (err 2.0).
RAY_GRID = GridSpec("hand-ray", (0.0, 0.0, 0.0), 1.0, (6, 3, 4), "ego")
RAY_DIRECTIONS = np.array([[1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=np.float32)
RAY_ORIGIN = np.array([[0.5, 1.5, 0.5]])


def _ray_frames() -> tuple[np.ndarray, np.ndarray]:
    gt = np.full(RAY_GRID.shape, FREE, dtype=np.uint8)
    pred = gt.copy()
    gt[3, 1, 0], pred[4, 1, 0] = CAR, CAR
    gt[0, 2, 0] = BARRIER
    pred[0, 0, 0] = TRUCK
    gt[0, 1, 1], pred[0, 1, 3] = VEG, VEG
    return gt, pred


def test_ray_traversals_by_hand():
    gt, pred = _ray_frames()
    gt_rec, pred_rec = cast_rays([gt, pred], RAY_ORIGIN, RAY_GRID, OCC3D, directions=RAY_DIRECTIONS)
    assert gt_rec.dist_m.tolist() == [3.5, 1.5, 1.5, 1.5]
    assert gt_rec.label.tolist() == [CAR, BARRIER, FREE, VEG]
    assert gt_rec.voxel.tolist() == [[3, 1, 0], [0, 2, 0], [0, 0, 0], [0, 1, 1]]
    assert pred_rec.dist_m.tolist() == [4.5, 1.5, 1.5, 3.5]
    assert pred_rec.label.tolist() == [CAR, FREE, TRUCK, VEG]
    assert pred_rec.voxel.tolist() == [[4, 1, 0], [0, 2, 0], [0, 0, 0], [0, 1, 3]]


def test_rayiou_by_hand():
    gt, pred = _ray_frames()
    m = RayIoUMetric(RayIoUConfig(grid=RAY_GRID, labels=OCC3D))
    m.add_records(*cast_rays([gt, pred], RAY_ORIGIN, RAY_GRID, OCC3D, directions=RAY_DIRECTIONS))
    r = m.compute()
    # counts over the 3 rays with a non-free GT label: car gt 1 / pred 1, barrier gt 1 / pred 0,
    # vegetation gt 1 / pred 1; truck only on the dropped ray -> NaN. IoU = tp / (gt + pred - tp):
    #              @1m  @2m  @4m
    #   car        0    1    1
    #   barrier    0    0    0
    #   vegetation 0    0    1
    assert r["occ/rayiou@1m"] == pytest.approx(0.0)
    assert r["occ/rayiou@2m"] == pytest.approx(100 / 3)
    assert r["occ/rayiou@4m"] == pytest.approx(200 / 3)
    assert r["occ/rayiou"] == pytest.approx(100 * 3 / 9)  # mean of the 9 finite entries
    assert r["occ/rayiou/car"] == pytest.approx(200 / 3)
    assert r["occ/rayiou/barrier"] == 0.0
    assert r["occ/rayiou/vegetation"] == pytest.approx(100 / 3)
    assert np.isnan(r["occ/rayiou/truck"])
    assert "occ/score" not in r  # no flow given


# --- lidarseg mIoU ----------------------------------------------------------------------------
# A voxel prediction on a (3, 1, 1) grid of 1 m voxels: x in [0, 1) car, [1, 2) driveable surface,
# [2, 3) free (no challenge class: a point there is a miss, column 0). General GT labels map to the
# challenge classes: 17 vehicle.car -> 4 car, 24 flat.driveable_surface -> 11, 2 adult -> 7
# pedestrian, 0 noise -> 0 ignore.
#   point  x     GT        predicted
#   0      0.5   car       car
#   1      0.2   car       car
#   2      1.5   car       road
#   3      1.5   road      road
#   4      2.5   road      0 (free voxel)
#   5      1.5   ignore    road  (row 0 zeroed: not counted anywhere)
#   6      5.0   car       outside the grid: excluded, but counted in the coverage denominator
#   7      0.5   ped       car
LS_GRID = GridSpec("hand-lidarseg", (0.0, 0.0, 0.0), 1.0, (3, 1, 1), "ego")
LS_POINTS_X_M = [0.5, 0.2, 1.5, 1.5, 2.5, 1.5, 5.0, 0.5]
LS_GT_GENERAL = [17, 17, 17, 24, 24, 0, 17, 2]


def test_lidarseg_miou_by_hand():
    points = np.column_stack([LS_POINTS_X_M, np.full(8, 0.5), np.full(8, 0.5)])
    voxels = np.array([CAR, ROAD, FREE], dtype=np.uint8).reshape(LS_GRID.shape)
    m = LidarSegMetric()
    m.update_from_voxels(points, np.asarray(LS_GT_GENERAL, dtype=np.uint8), voxels, LS_GRID, OCC3D)
    r = m.compute()
    # car: tp 2 (0, 1), row 3 (0, 1, 2), column 3 (0, 1, 7) -> 2 / 4
    assert r["lidarseg/iou/car"] == pytest.approx(50.0)
    # road: tp 1 (3), row 2 (3, 4), column 2 (2, 3; point 5 has GT ignore) -> 1 / 3
    # (counting point 5's column would give 1 / 4)
    assert r["lidarseg/iou/driveable_surface"] == pytest.approx(100 / 3)
    assert r["lidarseg/iou/pedestrian"] == 0.0  # row 1, column 0
    assert np.isnan(r["lidarseg/iou/bus"])
    # mIoU = (1/2 + 1/3 + 0) / 3 = 5/18
    assert r["lidarseg/miou"] == pytest.approx(100 * 5 / 18)
    # 7 non-ignore GT points, 6 of them inside the grid
    assert r["lidarseg/n_points"] == 7.0
    assert r["lidarseg/coverage"] == pytest.approx(6 / 7)
    assert m.confusion[0].sum() == 0 and m.confusion[:, 0].sum() == 1  # the free-voxel miss (point 4)
