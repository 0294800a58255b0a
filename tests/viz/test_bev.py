"""The one bird's-eye-view renderer (``occplan.viz.bev``): where a decision's voxels, boxes, ego and plan
land in the env's image, and the LiDAR picture of a prediction."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyPrediction, Pose, VehicleParams
from occplan.viz.bev import CLASS_COLORS, EGO_COLOR, PLAN_COLOR, decision_image, save_bev_picture

GRID = GridSpec.occ3d_nuscenes()  # x, y in [-40, 40] m, 0.4 m voxels, 200 x 200 x 16
LABELS = LabelSet.occ3d()


def _pixel(x_m: float, y_m: float, scale: int = 2) -> tuple[int, int]:
    """(row, col) of an ego-frame point: x forward up, y left to the left, 5 px per metre at scale 2."""
    px_per_m = scale / GRID.voxel_size_m
    return int((40.0 - x_m) * px_per_m), int((40.0 - y_m) * px_per_m)


def _empty() -> np.ndarray:
    return np.full(GRID.shape, LABELS.free_index, np.uint8)


def test_a_voxel_column_shows_its_topmost_label_at_its_cell():
    sem = _empty()
    sem[150, 60, 2] = LABELS.index("driveable_surface")
    sem[150, 60, 5] = LABELS.index("car")  # the topmost non-free voxel of the column
    img = decision_image(sem, GRID, LABELS, (), Pose.identity(), None, VehicleParams())
    assert img.shape == (400, 400, 3) and img.dtype == np.uint8
    # cell (i, j) covers x in [-40 + 0.4 i, -40 + 0.4 (i + 1)]: rows 2 * (199 - i) .. + 1, same for y / columns
    rows, cols = slice(2 * (199 - 150), 2 * (199 - 150) + 2), slice(2 * (199 - 60), 2 * (199 - 60) + 2)
    assert (img[rows, cols] == CLASS_COLORS["car"]).all()
    assert (img[0, 0] == CLASS_COLORS["free"]).all()


def test_boxes_ego_and_plan_are_drawn_in_the_ego_frame():
    vehicle = VehicleParams()
    world_from_ego = Pose.from_xy_yaw(100.0, 50.0, math.pi / 2)
    # 10 m ahead of the ego, aligned with it: world (100, 60), world yaw pi / 2
    box = AgentBox(
        np.array([100.0, 60.0, 1.0]), np.array([2.0, 4.0, 1.5]), math.pi / 2, np.zeros(2), "vehicle.car", "car-1"
    )
    plan = np.array([[4.0, 0.0], [8.0, 0.0], [12.0, 0.0]])
    img = decision_image(None, GRID, None, (box,), world_from_ego, plan, vehicle)
    black = np.argwhere((img == 0).all(axis=2))
    top, left = _pixel(12.0, 1.0)  # front-left corner (length 4 m, width 2 m)
    bottom, right = _pixel(8.0, -1.0)
    assert abs(black[:, 0].min() - top) <= 1 and abs(black[:, 0].max() - bottom) <= 1
    assert abs(black[:, 1].min() - left) <= 1 and abs(black[:, 1].max() - right) <= 1
    assert tuple(img[_pixel(vehicle.rear_axle_to_center_m, 0.6)]) == EGO_COLOR  # beside the plan line
    assert tuple(img[_pixel(6.0, 0.0)]) == PLAN_COLOR  # on the plan's line, between the ego box and the agent


def test_the_lidar_picture_is_written(tmp_path):
    sem = _empty()
    sem[100:200, :, 1] = LABELS.index("vegetation")  # the front half
    pred = OccupancyPrediction(sem, GRID, LABELS)
    points = np.array([[10.0, 5.0, 0.5], [-20.0, 3.0, 1.0], [100.0, 0.0, 0.0]])  # the last one is outside
    out = save_bev_picture(pred, points, tmp_path / "pics" / "bev.png", title="t")
    rgb = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    colors = {tuple(c) for c in np.unique(rgb, axis=0)}
    assert CLASS_COLORS["vegetation"] in colors and CLASS_COLORS["free"] in colors
