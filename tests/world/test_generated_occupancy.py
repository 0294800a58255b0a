"""Ground-truth occupancy, flow and visibility masks of the fixture world."""

import numpy as np
import pytest
from conftest import ONCOMING_SPEED_MPS

from occplan.types import GridSpec, LabelSet, Pose
from occplan.world.occupancy_gt import GENERAL_TO_OCC3D, SurfaceLattice, VoteScratch, voxelise_static
from occplan.world.spec import StaticMesh

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


def test_static_voxelisation_matches_dense_random_sampling():
    """Lattice voting on a few large triangles (some crossing the grid edge) marks the voxels that dense
    random samples of the same triangles fall in, with each voxel's majority class."""
    rng = np.random.default_rng(3)
    grid = GridSpec("small", (-6.0, -6.0, -2.0), 0.4, (30, 30, 10), "ego")
    vertices = rng.uniform([-9, -9, -2.5], [9, 9, 2.5], size=(12, 3))
    faces = np.arange(12, dtype=np.int32).reshape(4, 3)
    labels = np.array([24, 26, 28, 30], np.uint8)  # road, sidewalk, manmade, vegetation
    mesh = StaticMesh(vertices, faces, labels, np.zeros((4, 3), np.uint8))
    grid_from_world = Pose.from_xy_yaw(0.3, -0.2, 0.4)
    out = np.full(grid.shape, OCC3D.free_index, np.uint8)
    scratch = VoteScratch.for_grid(grid)
    voxelise_static(SurfaceLattice.from_mesh(mesh, 0.05), grid_from_world, grid, out, scratch)
    assert not scratch.counts.any()  # scratch left clean
    # reference: 400k random points per triangle, majority class per voxel
    ab = rng.uniform(size=(4, 400_000, 2))
    ab = np.where(ab.sum(-1, keepdims=True) > 1, 1 - ab, ab)
    tri = vertices[faces]
    pts = (
        tri[:, None, 0]
        + ab[..., :1] * (tri[:, None, 1] - tri[:, None, 0])
        + ab[..., 1:] * (tri[:, None, 2] - tri[:, None, 0])
    )
    idx = grid.index_of(grid_from_world.transform_points(pts.reshape(-1, 3)))
    cls = np.repeat(GENERAL_TO_OCC3D[labels], 400_000)
    ok = grid.in_bounds(idx)
    flat = np.ravel_multi_index(tuple(idx[ok].T), grid.shape)
    votes = np.zeros((grid.num_voxels, 18), np.int64)
    np.add.at(votes, (flat, cls[ok]), 1)
    ref_occupied = (votes.sum(1) > 0).reshape(grid.shape)
    occupied = out != OCC3D.free_index
    assert occupied.sum() > 200
    assert (occupied != ref_occupied).sum() <= 0.01 * ref_occupied.sum()
    clear = (votes.max(1) > 0.7 * votes.sum(1)).reshape(grid.shape) & occupied & ref_occupied
    assert np.array_equal(out[clear], votes.argmax(1).reshape(grid.shape)[clear].astype(np.uint8))
