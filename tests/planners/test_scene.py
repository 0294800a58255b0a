"""SceneForecast: voxel collapse to BEV (the shared obstacle rule), ground classes, flow propagation,
agreement with a plain path."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.rules.obstacles import obstacle_columns, obstacle_voxels
from occplan.types import GridSpec, LabelSet, OccupancyPrediction, VehicleParams
from planners.footprint import Footprint
from planners.scene import SceneConfig, build_scene
from planners.synthetic import BoxObstacle, road_scene, straight_route

GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()
EGO = Footprint.from_vehicle(VehicleParams()).corners_m


def _cell(x_m: float, y_m: float) -> tuple[int, int]:
    return int(np.floor((x_m + 40) / 0.4)), int(np.floor((y_m + 40) / 0.4))


def _reference_mean_flow(occ: OccupancyPrediction) -> np.ndarray:
    """Plain loop: the mean flow of each column's obstacle voxels (0 where it has none)."""
    vox = obstacle_voxels(occ.semantics, LABELS, 0.4)
    out = np.zeros((*vox.shape[:2], 2))
    for i, j in zip(*np.nonzero(vox.any(axis=2)), strict=True):
        out[i, j] = occ.flow[i, j][vox[i, j]].mean(axis=0)
    return out


def test_static_car_becomes_obstacle_and_road_is_drivable():
    occ, drivable = road_scene(straight_route(), [BoxObstacle((20.0, 0.0), length_m=4.0, width_m=2.0)])
    scene = build_scene(occ, 0.5, 6, EGO)
    i, j = _cell(20.0, 0.0)
    assert scene.obstacles[:, i, j].all()  # static: present at every step
    assert not scene.obstacles[:, _cell(10.0, 0.0)[0], _cell(10.0, 0.0)[1]].any()
    assert np.array_equal(scene.drivable, drivable)
    assert scene.sidewalk[_cell(0.0, 6.0)] and not scene.sidewalk[_cell(0.0, 0.0)]
    assert scene.offroad_m[_cell(0.0, 0.0)] == 0.0
    assert scene.offroad_m[_cell(0.0, 9.0)] == pytest.approx(9.0 - 5.0, abs=0.45)
    # clearance golden: 4 m from the car's rear face (18 m) to x = 14 m, measured between cell centres
    assert scene.clearance_m(3)[_cell(14.0, 0.0)] == pytest.approx(4.0, abs=0.41)


def test_height_band_ignores_overhangs_and_low_debris():
    sem = np.full(GRID.shape, 17, np.uint8)
    sem[:, :, 2] = LABELS.index("driveable_surface")  # ground top face at z = 0.2 m
    i, j = _cell(10.0, 0.0)
    sem[i, j, 8:] = LABELS.index("vegetation")  # centres from 2.2 m above ground: overhang
    sem[i + 10, j, 3] = LABELS.index("manmade")  # centre 0.2 m above: a kerb or debris, not an obstacle
    sem[i + 20, j, 4] = LABELS.index("manmade")  # centre 0.6 m above: obstacle
    scene = build_scene(OccupancyPrediction(sem, GRID, LABELS), 0.5, 6, EGO)
    assert not scene.obstacles[0, i, j] and not scene.obstacles[0, i + 10, j]
    assert scene.obstacles[0, i + 20, j]


def test_a_car_hiding_the_ground_is_an_obstacle_on_drivable_ground():
    sem = np.full(GRID.shape, 17, np.uint8)
    sem[:, :, 0] = LABELS.index("driveable_surface")  # ground top face at -0.6 m
    i, j = _cell(15.0, 5.0)
    sem[i - 3 : i + 3, j - 3 : j + 3, 0] = LABELS.index("car")  # car voxels where the ground is hidden
    sem[i - 3 : i + 3, j - 3 : j + 3, 1:4] = LABELS.index("car")
    scene = build_scene(OccupancyPrediction(sem, GRID, LABELS), 0.5, 6, EGO)
    assert scene.obstacles[0, i, j]
    assert scene.drivable[i, j]  # filled from the road around


def test_moving_obstacle_moves_with_flow():
    occ, _ = road_scene(straight_route(), [BoxObstacle((10.0, 8.0), 2.0, 2.0, velocity_mps=(0.0, -4.0))])
    scene = build_scene(occ, 0.5, 6, EGO)
    for k in range(7):
        y = 8.0 - 4.0 * 0.5 * k
        assert scene.obstacles[k, _cell(10.0, y)[0], _cell(10.0, y)[1]], k
        assert scene.obstacle_velocity_mps[k, _cell(10.0, y)[0], _cell(10.0, y)[1], 1] == pytest.approx(-4.0)
    assert not scene.obstacles[6, _cell(10.0, 8.0)[0], _cell(10.0, 8.0)[1]]
    assert scene.obstacles[k].sum() == scene.obstacles[0].sum()  # the shape is carried, not smeared


def test_obstacles_are_the_simulators_obstacle_columns_on_random_grids():
    rng = np.random.default_rng(3)
    cfg = SceneConfig(ego_clear_margin_m=-100.0)  # keep every cell
    for _ in range(3):
        sem = np.where(rng.random(GRID.shape) < 0.2, rng.integers(0, 17, GRID.shape), 17).astype(np.uint8)
        flow = rng.normal(0, 0.1, (*GRID.shape, 2)).astype(np.float32)  # below the moving threshold
        occ = OccupancyPrediction(sem, GRID, LABELS, flow=flow)
        scene = build_scene(occ, 0.5, 6, EGO, config=cfg)
        assert np.array_equal(scene.obstacles[0], obstacle_columns(sem, LABELS, 0.4))


def test_mean_flow_of_obstacle_voxels_agrees_with_reference():
    rng = np.random.default_rng(4)
    sem = np.where(rng.random(GRID.shape) < 0.05, LABELS.index("car"), 17).astype(np.uint8)
    sem[:, :, 0] = LABELS.index("terrain")
    flow = rng.normal(0, 3.0, (*GRID.shape, 2)).astype(np.float32)
    occ = OccupancyPrediction(sem, GRID, LABELS, flow=flow)
    cfg = SceneConfig(ego_clear_margin_m=-100.0, moving_threshold_mps=0.0)
    scene = build_scene(occ, 0.5, 6, EGO, config=cfg)
    ref_occ = obstacle_columns(sem, LABELS, 0.4)
    # at t = 0 each obstacle cell holds its own mean flow (cells are not displaced yet)
    np.testing.assert_allclose(scene.obstacle_velocity_mps[0][ref_occ], _reference_mean_flow(occ)[ref_occ], atol=1e-5)


def test_ego_own_cells_are_cleared_and_drivable_bev_overrides():
    occ, _ = road_scene(straight_route(), [BoxObstacle((1.3, 0.0), 4.0, 1.8)])
    bev = np.zeros(GRID.shape[:2], bool)
    bev[100:, 95:105] = True
    scene = build_scene(occ, 0.5, 6, EGO, drivable_bev=bev)
    assert not scene.obstacles[0, _cell(1.3, 0.0)[0], _cell(1.3, 0.0)[1]]
    assert np.array_equal(scene.drivable, bev)


def test_wrong_label_set_or_frame_raises():
    grid = GridSpec.occ3d_nuscenes()
    occ = OccupancyPrediction(np.zeros(grid.shape, np.uint8), grid, LabelSet.openocc_v2())
    with pytest.raises(ValidationError, match="labels"):
        build_scene(occ, 0.5, 6, EGO)
    lidar_grid = GridSpec.openocc_v1()
    occ = OccupancyPrediction(np.full(lidar_grid.shape, 17, np.uint8), lidar_grid, LABELS)
    with pytest.raises(ValidationError, match="ego-frame"):
        build_scene(occ, 0.5, 6, EGO)
