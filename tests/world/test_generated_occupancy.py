"""Ground-truth occupancy, flow and visibility masks of the fixture world."""

import numpy as np
import pytest
from conftest import ONCOMING_SPEED_MPS, WORLD_FROM_LOCAL

from occplan.types import GridSpec, LabelSet
from occplan.world.occupancy_gt import GENERAL_TO_OCC3D, sample_surface

OCC3D = LabelSet.occ3d()
GRID = GridSpec.occ3d_nuscenes()


@pytest.fixture(scope="module")
def occ(world, keyframe):
    pose, time_us = keyframe
    return world.occupancy(pose, time_us, GRID)


@pytest.fixture(scope="module")
def scan_ego(world, keyframe):
    pose, time_us = keyframe
    scan = world.lidar_scan(pose, time_us)
    return world.rig.ego_from_lidar().transform_points(scan.points_sensor), scan.labels


def test_frame_contents(occ, keyframe):
    pose, time_us = keyframe
    assert occ.labels == OCC3D and occ.grid == GRID and occ.time_us == time_us
    assert occ.world_from_grid.allclose(pose)
    present = {OCC3D.class_names[i] for i in np.unique(occ.semantics)}
    assert {"driveable_surface", "sidewalk", "terrain", "manmade", "vegetation", "car", "pedestrian", "free"} <= present


def test_lidar_points_fall_in_voxels_of_their_class(occ, scan_ego):
    points, labels = scan_ego
    idx = GRID.index_of(points)
    ok = GRID.in_bounds(idx)
    gt = occ.semantics[tuple(idx[ok].T)]
    assert ok.sum() > 20_000
    assert np.mean(gt == GENERAL_TO_OCC3D[labels[ok]]) >= 0.95
    assert occ.mask_lidar[tuple(idx[ok].T)].all()  # voxels holding a return are observed


def test_flow_inside_the_moving_box_is_its_velocity_in_ego_frame(world, occ, keyframe):
    pose, time_us = keyframe
    car = next(b for b in world.agent_boxes(time_us) if b.instance == "oncoming_car")
    centers = GRID.all_centers().reshape(-1, 3)
    inside = car.contains(pose.transform_points(centers)).reshape(GRID.shape)
    assert inside.sum() > 20
    # the car drives along local -x; the ego drives along local +x, so in the ego frame it is (-6, 0)
    np.testing.assert_allclose(occ.flow[inside], np.tile([-ONCOMING_SPEED_MPS, 0.0], (inside.sum(), 1)), atol=1e-5)
    assert (occ.semantics[inside] == OCC3D.index("car")).all()
    walker_or_car = np.isin(occ.semantics, [OCC3D.index("car"), OCC3D.index("pedestrian")])
    assert np.all(occ.flow[~walker_or_car] == 0)
    parked = next(b for b in world.agent_boxes(time_us) if b.instance == "parked_car")
    in_parked = parked.contains(pose.transform_points(centers)).reshape(GRID.shape)
    assert in_parked.any() and np.all(occ.flow[in_parked] == 0)


def test_free_space_above_the_road(occ):
    # ego frame: road surface at z = 0 -> layer k = 2 ([-0.2, 0.2)); layers 4.. above the road are free
    i, j = GRID.index_of(np.array([[15.0, 0.0, 0.0]]))[0, :2]
    assert occ.semantics[i, j, 2] == OCC3D.index("driveable_surface")
    assert (occ.semantics[i, j, 4:] == OCC3D.free_index).all()
    assert (occ.semantics[i, j, :1] == OCC3D.free_index).all()  # below the slab's bottom face


def test_masks(occ):
    assert occ.mask_camera is not None and occ.mask_lidar is not None
    assert not (occ.mask_camera & ~occ.mask_lidar).any()
    assert 0.05 < occ.mask_lidar.mean() < 0.9 and occ.mask_camera.sum() > 0.5 * occ.mask_lidar.sum()
    # the building's interior (local x 18..34, y 10..22; the ego is at local (5, -2)) is free and unobserved
    i, j, k = GRID.index_of(np.array([[21.0, 18.0, 2.0]]))[0]
    assert occ.semantics[i, j, k] == OCC3D.free_index and not occ.mask_lidar[i, j, k]
    occupied = occ.semantics != OCC3D.free_index
    assert occ.mask_lidar[occupied].mean() < 0.5  # hidden faces (slab bottoms, far walls) stay unobserved


def test_fast_path_gives_the_same_semantics_and_flow(world, keyframe, occ):
    pose, time_us = keyframe
    fast = world.occupancy(pose, time_us, GRID, with_masks=False)
    assert fast.mask_lidar is None and fast.mask_camera is None
    assert np.array_equal(fast.semantics, occ.semantics) and np.array_equal(fast.flow, occ.flow)


def test_agent_override_and_lidar_frame_grid(world, keyframe):
    pose, time_us = keyframe
    empty = world.occupancy(pose, time_us, GRID, agents=(), with_masks=False)
    assert not np.isin(empty.semantics, [OCC3D.index("car"), OCC3D.index("pedestrian")]).any()
    lidar_grid = GridSpec.openocc_v1()
    occ_l = world.occupancy(pose, time_us, lidar_grid, with_masks=False)
    assert occ_l.world_from_grid.allclose(pose @ world.rig.ego_from_lidar())
    # the road under the ego (ego z = 0 is lidar z = -1.84) is driveable surface in the lidar grid
    i, j, k = lidar_grid.index_of(np.array([[0.0, 10.0, -1.9]]))[0]
    assert occ_l.semantics[i, j, k] == OCC3D.index("driveable_surface")


def test_surface_samples_cover_faces_densely(world_spec):
    samples = sample_surface(world_spec.static, spacing_m=0.5)
    pts = samples.points_m.astype(np.float64) + samples.origin_m
    # each tile's points lie in that tile
    ty, tx1 = samples.tile_start.shape
    iy, ix = ty // 2, (tx1 - 1) // 2
    seg = pts[samples.tile_start[iy, ix] : samples.tile_start[iy, ix + 1]] - samples.origin_m
    assert len(seg) and (np.floor(seg[:, :2] / samples.tile_m) == [ix, iy]).all()
    # a 1 x 1 m patch of road top has about (1 / 0.5)^2 samples or more
    local = WORLD_FROM_LOCAL.inverse().transform_points(pts)
    patch = (np.abs(local[:, 0] - 50.3) < 0.5) & (np.abs(local[:, 1] - 1.3) < 0.5) & (np.abs(local[:, 2]) < 1e-6)
    assert patch.sum() >= 4
    assert set(np.unique(samples.label)) <= set(range(18))
