"""Ray casting: exact distances against known geometry, box occlusion, and the voxel traversal."""

import itertools

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from occplan.types import GridSpec, LabelSet, Pose
from occplan.world.raycast import BoxSet, SectorIndex, StaticScene, cast_boxes, cast_world
from occplan.world.spec import StaticMesh
from occplan.world.voxel_traversal import mark_segments

GENERAL = LabelSet.lidarseg_general()
ROAD, CAR = GENERAL.index("flat.driveable_surface"), GENERAL.index("vehicle.car")
CENTER = np.array([50.0, 60.0, 2.0])


def _plane_scene(z_m: float = 0.0) -> StaticScene:
    v = np.array([[-500, -500, z_m], [500, -500, z_m], [500, 500, z_m], [-500, 500, z_m]], np.float64) + np.array(
        [300, 800, 0]
    )
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    return StaticScene(
        StaticMesh(v, faces, np.full(2, ROAD, np.uint8), np.full((2, 3), 70, np.uint8)),
    )


def _box(center, size_lwh, yaw) -> BoxSet:
    return BoxSet(
        center_m=np.array([center], np.float64),
        half_extent_m=np.array([size_lwh], np.float64) / 2,
        yaw_rad=np.array([yaw], np.float64),
        velocity_mps=np.zeros((1, 2)),
        label=np.array([CAR], np.uint8),
        instance=np.array([7], np.int32),
        rgb=np.array([[200, 0, 0]], np.uint8),
    )


def test_plane_hit_at_exact_distance():
    scene = _plane_scene(z_m=1.25)
    origin = np.array([[310.0, 790.0, 3.25]])
    rng = np.random.default_rng(0)
    d = rng.normal(size=(500, 3))
    d[:, 2] = -np.abs(d[:, 2]) - 0.2
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    hits = cast_world(scene, BoxSet.empty(), origin, d, max_range_m=1e4)
    np.testing.assert_allclose(hits.distance_m, 2.0 / -d[:, 2], rtol=1e-5)
    assert (hits.label == ROAD).all() and (hits.instance == -1).all()
    np.testing.assert_allclose(hits.normal, np.tile([0, 0, 1], (500, 1)), atol=1e-6)  # faces the origin
    up = cast_world(scene, BoxSet.empty(), origin, -d, max_range_m=1e4)
    assert np.isinf(up.distance_m).all() and (up.label == 0).all()


def test_max_range_cuts_hits():
    scene = _plane_scene()
    hits = cast_world(scene, BoxSet.empty(), np.array([[300.0, 800.0, 10.0]]), np.array([[0.0, 0.0, -1.0]]), 9.9)
    assert np.isinf(hits.distance_m[0])


def test_yawed_box_exact_distance_normal_and_occlusion():
    scene = _plane_scene()
    yaw = np.deg2rad(30.0)
    boxes = _box((320.0, 800.0, 1.0), (4.0, 2.0, 2.0), yaw)
    # ray along the box's own -x axis towards its rear face, from 10 m behind the centre
    axis = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    origin = np.array([[320.0, 800.0, 1.0]]) - 10 * axis
    hits = cast_world(scene, boxes, origin, axis[None], 100.0)
    assert hits.distance_m[0] == pytest.approx(8.0, abs=1e-9)
    assert hits.label[0] == CAR and hits.instance[0] == 7
    np.testing.assert_allclose(hits.normal[0], -axis, atol=1e-6)
    np.testing.assert_array_equal(hits.rgb[0], [200, 0, 0])
    # a ray towards the ground behind the box is occluded by it; beside it reaches the ground
    down = np.array([[0.0, 0.0, -1.0]])
    above = cast_world(scene, boxes, np.array([[320.0, 800.0, 5.0]]), down, 100.0)
    assert above.distance_m[0] == pytest.approx(3.0) and above.label[0] == CAR
    np.testing.assert_allclose(above.normal[0], [0, 0, 1], atol=1e-6)
    beside = cast_world(scene, boxes, np.array([[320.0, 805.0, 5.0]]), down, 100.0)
    assert beside.distance_m[0] == pytest.approx(5.0) and beside.label[0] == ROAD


def test_ray_from_inside_a_box_ignores_it():
    scene = _plane_scene()
    boxes = _box((300.0, 800.0, 1.0), (4.0, 2.0, 2.0), 0.0)
    hits = cast_world(scene, boxes, np.array([[300.0, 800.0, 1.5]]), np.array([[0.0, 0.0, -1.0]]), 100.0)
    assert hits.distance_m[0] == pytest.approx(1.5) and hits.label[0] == ROAD


def _moller_trumbore(origin: np.ndarray, dirs: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Brute-force nearest hit distance of each ray over all triangles (plain numpy, float64)."""
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]  # (F, 3)
    p = np.cross(dirs[:, None], e2[None])  # (N, F, 3)
    det = np.einsum("nfk,fk->nf", p, e1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / det
        s = origin - tri[:, 0]  # (F, 3)
        u = np.einsum("nfk,fk->nf", p, s) * inv
        q = np.cross(s, e1)  # (F, 3)
        v = np.einsum("nk,fk->nf", dirs, q) * inv
        t = np.einsum("fk,fk->f", e2, q)[None] * inv
    ok = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return np.where(ok, t, np.inf).min(axis=1)


def test_static_mesh_matches_brute_force_reference():
    """Embree distances on a closed mesh agree with a brute-force Moller-Trumbore intersection."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=3.0)
    mesh = StaticMesh(
        sphere.vertices + CENTER,
        sphere.faces.astype(np.int32),
        np.full(len(sphere.faces), 28, np.uint8),
        np.zeros((len(sphere.faces), 3), np.uint8),
    )
    rng = np.random.default_rng(1)
    target = rng.uniform(-1.5, 1.5, size=(300, 3)) + CENTER  # inside the sphere: every ray hits
    origin = np.array([40.0, 55.0, 6.0])
    d = target - origin
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    hits = cast_world(StaticScene(mesh), BoxSet.empty(), origin[None], d, 100.0)
    ref = _moller_trumbore(origin, d, mesh.vertices_m[mesh.faces])
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(hits.distance_m, ref, atol=1e-4)


def _random_boxes(rng: np.random.Generator, n: int, origin: np.ndarray) -> BoxSet:
    return BoxSet(
        center_m=origin + rng.uniform([-40, -40, -2], [40, 40, 2], size=(n, 3)),
        half_extent_m=rng.uniform([0.3, 0.3, 0.5], [3.0, 1.2, 1.5], size=(n, 3)),
        yaw_rad=rng.uniform(-np.pi, np.pi, n),
        velocity_mps=np.zeros((n, 2)),
        label=np.full(n, CAR, np.uint8),
        instance=np.arange(n, dtype=np.int32),
        rgb=np.zeros((n, 3), np.uint8),
    )


def test_box_caster_matches_brute_force_and_sensor_frame_sectors():
    """The sector-pruned box caster equals a brute-force slab test over every box, with the rays'
    sectors computed in the world frame or precomputed in a tilted sensor frame."""
    rng = np.random.default_rng(5)
    origin = np.array([300.0, 800.0, 1.8])
    boxes = _random_boxes(rng, 60, origin)
    boxes.center_m[-1] = origin + np.array([0.5, 0.0, 0.0])  # a box over the origin: in every sector
    dirs_sensor = rng.normal(size=(5000, 3))
    dirs_sensor /= np.linalg.norm(dirs_sensor, axis=1, keepdims=True)
    tilt = Rotation.from_euler("xyz", [0.05, -0.03, 2.1]).as_matrix()
    world_from_sensor = Pose(tilt, origin)
    dirs = world_from_sensor.transform_vectors(dirs_sensor)
    world = cast_boxes(boxes, origin[None], dirs, 30.0)
    sensor = cast_boxes(boxes, origin[None], dirs, 30.0, (SectorIndex.of(dirs_sensor), world_from_sensor))
    for a, b in zip(world, sensor, strict=True):
        np.testing.assert_array_equal(a, b)
    # brute force: slab test of every ray against every box in the box frame
    ref = np.full(len(dirs), np.inf)
    for b in range(len(boxes)):
        c, s = np.cos(boxes.yaw_rad[b]), np.sin(boxes.yaw_rad[b])
        to_box = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
        o, d = to_box @ (origin - boxes.center_m[b]), dirs @ to_box.T
        with np.errstate(divide="ignore", invalid="ignore"):
            t0, t1 = (-boxes.half_extent_m[b] - o) / d, (boxes.half_extent_m[b] - o) / d
        enter = np.nanmax(np.minimum(t0, t1), axis=1)
        leave = np.nanmin(np.maximum(t0, t1), axis=1)
        hit = (enter <= leave) & (enter >= 0) & (enter <= 30.0)
        ref = np.where(hit, np.minimum(ref, enter), ref)
    assert np.isfinite(ref).sum() > 500
    np.testing.assert_allclose(world[0], ref, rtol=1e-9, atol=1e-9)


def _reference_traversal(start, end, grid: GridSpec) -> np.ndarray:
    """Voxels whose box intersects the segment (slab test per voxel, plain numpy)."""
    idx = np.array(list(itertools.product(*(range(s) for s in grid.shape))))
    lo = np.asarray(grid.range_min_m) + idx * grid.voxel_size_m
    hi = lo + grid.voxel_size_m
    d = end - start
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (lo - start) / d, (hi - start) / d
    tmin = np.where(d == 0, np.where((start >= lo) & (start < hi), -np.inf, np.inf), np.minimum(t0, t1))
    tmax = np.where(d == 0, np.where((start >= lo) & (start < hi), np.inf, -np.inf), np.maximum(t0, t1))
    enter, leave = np.maximum(tmin.max(axis=1), 0.0), np.minimum(tmax.min(axis=1), 1.0)
    out = np.zeros(grid.shape, bool)
    sel = idx[enter <= leave]
    out[tuple(sel.T)] = True
    return out


def test_traversal_agrees_with_reference_on_random_segments():
    grid = GridSpec("test", (-2.0, -3.0, -1.0), 0.5, (8, 10, 6), "ego")
    rng = np.random.default_rng(2)
    lo, hi = np.array([-4.0, -5.0, -3.0]), np.array([4.0, 4.0, 3.0])
    for _ in range(200):
        start, end = rng.uniform(lo, hi), rng.uniform(lo, hi)
        got = mark_segments(start[None], end[None], grid)
        np.testing.assert_array_equal(got, _reference_traversal(start, end, grid))


def test_traversal_axis_aligned_and_batched():
    grid = GridSpec("test", (0.0, 0.0, 0.0), 1.0, (5, 5, 5), "ego")
    got = mark_segments(np.array([[0.5, 0.5, 0.5]]), np.array([[4.5, 0.5, 0.5], [0.5, 0.5, 2.2]]), grid)
    expected = np.zeros(grid.shape, bool)
    expected[:, 0, 0] = True
    expected[0, 0, :3] = True
    np.testing.assert_array_equal(got, expected)
