"""PacketScene (Embree 4 ray packets via ctypes) against an analytic plane and against embreex on a LiDAR sweep."""

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.world.embree_packets import PacketScene
from occplan.world.generated import GeneratedWorld
from occplan.world.raycast import StaticScene


def test_ray_straight_down_onto_plane_hits_at_exact_distance():
    v = np.array([[-10, -10, 1.25], [10, -10, 1.25], [10, 10, 1.25], [-10, 10, 1.25]], np.float32)
    scene = PacketScene(v, np.array([[0, 1, 2], [0, 2, 3]], np.int32))
    origin = np.array([[3.0, 2.0, 4.0]], np.float32)
    dirs = np.array([[0, 0, -1], [0, 0, 1], [0, 0, -1]], np.float32)
    origins = origin + np.array([[0, 0, 0], [0, 0, 0], [-5, 0, 0]], np.float32)  # one origin per ray
    dist, prim = scene.cast(origins, dirs, 50.0)
    assert dist.dtype == np.float64 and prim.dtype == np.int32
    assert dist[0] == 2.75 and prim[0] == 0  # (3, 2) lies in face 0, the y <= x half
    assert dist[2] == 2.75 and prim[2] == 1  # (-2, 2) lies in face 1
    assert prim[1] == -1 and dist[1] == np.inf  # upwards: a miss
    short, prim_short = scene.cast(origin, dirs[:1].astype(np.float64), 2.5)  # the plane lies beyond the range
    assert prim_short[0] == -1 and short[0] == np.inf


def test_bad_shapes_are_rejected():
    v = np.zeros((3, 3), np.float32)
    with pytest.raises(ValidationError):
        PacketScene(v, np.array([[0, 1, 3]], np.int32))
    scene = PacketScene(np.eye(3, dtype=np.float32), np.array([[0, 1, 2]], np.int32))
    with pytest.raises(ValidationError):
        scene.cast(np.zeros((2, 3), np.float32), np.ones((3, 3), np.float32), 10.0)


@pytest.mark.slow
def test_lidar_sweep_packets_match_embreex_single_rays(tiny_dataroot):
    """StaticScene's two backends (Embree packets, embreex's single-ray run) give the same sweep."""
    world = GeneratedWorld.from_dataroot(tiny_dataroot, "scene-0000")
    world_from_lidar = world.logged_world_from_ego(int(world.spec.ego.times_us[10])) @ world.rig.ego_from_lidar()
    dirs = world_from_lidar.transform_vectors(world._lidar_dirs_sensor)
    origin = world_from_lidar.translation_m[None]
    max_range = world.rig.lidar.max_range_m
    packets = StaticScene(world.spec.static)
    single = StaticScene(world.spec.static, packets=False)
    assert packets._packets is not None and single._packets is None
    dist, face = packets.cast(origin, dirs, max_range)
    ref_dist, ref_face = single.cast(origin, dirs, max_range)
    assert 0.05 < (face < 0).mean() < 0.9  # the sweep sees both the mesh and the open sky
    np.testing.assert_array_equal(face < 0, ref_face < 0)
    same = face == ref_face
    assert same.mean() >= 0.999  # ties at shared edges may pick either face
    np.testing.assert_allclose(dist[same], ref_dist[same], rtol=0, atol=1e-4)
