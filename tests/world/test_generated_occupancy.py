"""Ground-truth occupancy, flow and visibility masks of the fixture world."""

import numpy as np
import pytest
from conftest import ONCOMING_SPEED_MPS

from occplan.types import GridSpec, LabelSet, Pose
from occplan.world.occupancy_gt import CLASS_RANK, GENERAL_TO_OCC3D, SurfaceLattice, VoteScratch, voxelise_static
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
    assert np.array_equal(world.static_semantics(pose, time_us, GRID), empty.semantics)
    lidar_grid = GridSpec.openocc_v1()
    occ_l = world.occupancy(pose, time_us, lidar_grid, with_masks=False)
    assert occ_l.world_from_grid.allclose(pose @ world.rig.ego_from_lidar())
    # the road under the ego (ego z = 0 is lidar z = -1.84) is driveable surface in the lidar grid
    i, j, k = lidar_grid.index_of(np.array([[0.0, 10.0, -1.9]]))[0]
    assert occ_l.semantics[i, j, k] == OCC3D.index("driveable_surface")


def test_static_voxelisation_matches_dense_random_sampling():
    """Lattice voting on a few large triangles (some crossing the grid edge) marks the voxels that dense
    random samples of the same triangles fall in (up to voxels the faces only graze, with less area
    than one lattice cell), with each voxel's majority class."""
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
    assert not (occupied & ~ref_occupied).any()  # no sample outside the faces
    # every voxel holding more face area than one lattice cell (spacing^2) gets a sample
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    area_in_voxel = np.bincount(flat, np.repeat(area / 400_000, 400_000)[ok], grid.num_voxels).reshape(grid.shape)
    assert not (ref_occupied & ~occupied & (area_in_voxel > 0.05**2)).any()
    assert (ref_occupied & ~occupied).sum() <= 0.03 * ref_occupied.sum()
    clear = (votes.max(1) > 0.7 * votes.sum(1)).reshape(grid.shape) & occupied & ref_occupied
    assert np.array_equal(out[clear], votes.argmax(1).reshape(grid.shape)[clear].astype(np.uint8))


def _reference_votes(lattice: SurfaceLattice, grid_from_world: Pose, grid: GridSpec) -> np.ndarray:
    """Plain numpy path of the lattice definition: every lattice point of every face, votes per voxel
    (saturating at 255), plurality with ties to the higher CLASS_RANK."""
    votes = np.zeros((grid.num_voxels, OCC3D.num_classes), np.int64)
    for f in range(len(lattice.n1)):
        n1, n2 = int(lattice.n1[f]), int(lattice.n2[f])
        u, w = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
        keep = w <= (n2 * (n1 - u)) // n1
        u, w = u[keep], w[keep]
        pts = lattice.v0[f] + (u / n1)[:, None] * lattice.e1[f] + (w / n2)[:, None] * lattice.e2[f]
        idx = grid.index_of(grid_from_world.transform_points(pts))
        ok = grid.in_bounds(idx)
        np.add.at(votes, (np.ravel_multi_index(tuple(idx[ok].T), grid.shape), lattice.label[f]), 1)
    votes = np.minimum(votes, 255)
    best = np.argmax(votes * 32 + CLASS_RANK[None].astype(np.int64), axis=1)
    return np.where(votes.sum(1) > 0, best, OCC3D.free_index).reshape(grid.shape)


def test_static_voxelisation_equals_the_plain_lattice_vote():
    """The numba kernel (single-class fast path, mixed voxels, rows clipped at the grid edge) gives
    exactly the plurality vote of the lattice points computed plainly."""
    rng = np.random.default_rng(11)
    grid = GridSpec("small", (-6.0, -6.0, -2.0), 0.4, (30, 30, 10), "ego")
    centers = rng.uniform([-8, -8, -2], [8, 8, 2], size=(40, 1, 3))
    vertices = (centers + rng.normal(scale=1.5, size=(40, 3, 3))).reshape(-1, 3)  # overlapping faces
    faces = np.arange(120, dtype=np.int32).reshape(40, 3)
    labels = rng.choice(np.array([24, 26, 28, 30, 1, 17], np.uint8), size=40)
    mesh = StaticMesh(vertices, faces, labels, np.zeros((40, 3), np.uint8))
    grid_from_world = Pose.from_xy_yaw(0.3, -0.2, 0.4)
    for spacing in (0.05, 0.2):
        lattice = SurfaceLattice.from_mesh(mesh, spacing)
        out = np.full(grid.shape, OCC3D.free_index, np.uint8)
        scratch = VoteScratch.for_grid(grid)
        voxelise_static(lattice, grid_from_world, grid, out, scratch)
        assert not scratch.counts.any()  # scratch left clean
        ref = _reference_votes(lattice, grid_from_world, grid)
        assert (ref != OCC3D.free_index).sum() > 500
        assert np.array_equal(out, ref)
