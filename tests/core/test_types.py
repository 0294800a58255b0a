import numpy as np
import pytest

from occplan.errors import RegistryError, ValidationError
from occplan.registry import Registry
from occplan.types import (
    AgentBox,
    EgoState,
    GridSpec,
    LabelSet,
    LidarSweep,
    OccupancyFrame,
    Pose,
    Trajectory,
)
from occplan.types.labels import GENERAL_TO_CHALLENGE


def test_grid_presets_geometry():
    g = GridSpec.occ3d_nuscenes()
    assert g.shape == (200, 200, 16) and g.frame == "ego"
    np.testing.assert_allclose(g.range_max_m, (40, 40, 5.4))
    assert GridSpec.openoccupancy().shape == (512, 512, 40)
    np.testing.assert_allclose(GridSpec.openoccupancy().range_max_m, (51.2, 51.2, 3.0))
    np.testing.assert_allclose(GridSpec.openocc_v1().range_max_m, (50, 50, 3))


def test_grid_index_center_round_trip():
    g = GridSpec.occ3d_nuscenes()
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, s, 1000) for s in g.shape], axis=1)
    assert np.array_equal(g.index_of(g.centers_of(idx)), idx)
    assert g.in_bounds(idx).all()
    assert not g.in_bounds(np.array([[200, 0, 0], [-1, 0, 0]])).any()
    # centre formula from the Occ3D reference: -40 + (i + 0.5) * 0.4
    np.testing.assert_allclose(g.centers_of(np.array([[0, 199, 15]])), [[-39.8, 39.8, 5.2]])
    assert g.all_centers().shape == (200, 200, 16, 3)


def test_pose_compose_inverse_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        a = Pose.from_nuscenes(rng.normal(size=3) * 10, q)
        b = Pose.from_nuscenes(rng.normal(size=3) * 10, np.roll(q, 1))
        assert (a @ a.inverse()).allclose(Pose.identity())
        pts = rng.normal(size=(50, 3))
        np.testing.assert_allclose((a @ b).transform_points(pts), a.transform_points(b.transform_points(pts)))
        np.testing.assert_allclose(Pose.from_matrix(a.matrix).matrix, a.matrix)
        q2 = a.quaternion_wxyz
        assert np.allclose(q2, q) or np.allclose(q2, -q)


def test_pose_nuscenes_quaternion_is_wxyz():
    # 90 degrees about z: (w, x, y, z) = (cos 45, 0, 0, sin 45)
    p = Pose.from_nuscenes([1, 2, 3], [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(p.transform_points(np.array([[1.0, 0, 0]])), [[1, 3, 3]], atol=1e-12)
    assert p.yaw_rad == pytest.approx(np.pi / 2)


def test_labelset_conversions_by_name():
    occ3d, openocc = LabelSet.occ3d(), LabelSet.openocc_v2()
    chal, general = LabelSet.lidarseg_challenge(), LabelSet.lidarseg_general()
    assert occ3d.num_classes == 18 and openocc.num_classes == 17 and general.num_classes == 32
    t = occ3d.table_to(openocc)
    for i, name in enumerate(occ3d.class_names):
        if name == "others":
            assert t[i] == 255
        else:
            assert openocc.class_names[t[i]] == name
    # round trip occ3d -> openocc -> occ3d is the identity on shared classes
    back = openocc.table_to(occ3d)[t[1:]]
    assert np.array_equal(back, np.arange(1, 18))
    # general -> challenge is the devkit table; -> occ3d sends ignored fine classes to others
    assert np.array_equal(general.table_to(chal), GENERAL_TO_CHALLENGE)
    g2o = general.table_to(occ3d)
    assert occ3d.class_names[g2o[general.index("vehicle.car")]] == "car"
    assert g2o[general.index("static.other")] == occ3d.index("others")
    assert g2o[general.index("noise")] == 255 and g2o[general.index("vehicle.ego")] == 255
    assert occ3d.class_names[g2o[general.index("human.pedestrian.police_officer")]] == "pedestrian"
    with pytest.raises(ValidationError, match="out"):
        occ3d.convert(np.array([18], dtype=np.uint8), openocc)


def test_validation_names_field():
    g, lab = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    sem = np.full(g.shape, 17, np.uint8)
    with pytest.raises(ValidationError, match="OccupancyFrame.semantics"):
        OccupancyFrame(sem[:10], g, lab)
    bad = sem.copy()
    bad[0, 0, 0] = 40
    with pytest.raises(ValidationError, match="labels outside"):
        OccupancyFrame(bad, g, lab)
    with pytest.raises(ValidationError, match="mask_camera"):
        OccupancyFrame(sem, g, lab, mask_camera=np.ones(g.shape, np.uint8))
    with pytest.raises(ValidationError, match="Trajectory.poses"):
        Trajectory(np.full((6, 3), np.nan))
    with pytest.raises(ValidationError, match="EgoState.speed_mps"):
        EgoState(0, 0.0, 0.0, 0.0, speed_mps=float("nan"))
    with pytest.raises(ValidationError, match="LidarSweep.points"):
        LidarSweep(np.zeros((4, 4), np.float32), np.zeros(4, np.float32), np.zeros((1, 3)), np.zeros(4, np.int16))


def test_agent_box_contains_and_corners():
    box = AgentBox(np.array([10.0, 0, 1]), np.array([2.0, 4.0, 2.0]), np.pi / 2, np.zeros(2), "vehicle.car", "i")
    pts = np.array([[10, 1.9, 1], [10, 2.1, 1], [10.9, 0, 1], [11.1, 0, 1]], float)
    assert box.contains(pts).tolist() == [True, False, True, False]
    c = box.corners_xy()
    np.testing.assert_allclose(np.sort(c[:, 0]), [9, 9, 11, 11], atol=1e-9)


def test_trajectory_from_xy_yaw():
    t = Trajectory.from_xy(np.array([[1.0, 0], [2, 0], [3, 1], [3, 2], [3, 3], [3, 4]]))
    np.testing.assert_allclose(t.poses[:, 2], [0, 0, np.pi / 4, np.pi / 2, np.pi / 2, np.pi / 2])


def test_registry_errors():
    r: Registry[int] = Registry("thing")
    r.register("a", lambda: 1)
    assert r.create("a") == 1
    with pytest.raises(RegistryError, match="duplicate"):
        r.register("a", lambda: 2)
    with pytest.raises(RegistryError, match="known: a"):
        r.create("b")
