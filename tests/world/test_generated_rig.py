import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.types import CAMERA_CHANNELS
from occplan.world.rig import SensorRig


def test_channels_are_the_nuscenes_cameras():
    assert SensorRig.nuscenes().camera_channels == CAMERA_CHANNELS


def test_lidar_mount_is_nuscenes_lidar_top():
    rig = SensorRig.nuscenes()
    pose = rig.ego_from_lidar()
    np.testing.assert_allclose(pose.translation_m, (0.943, 0.0, 1.84))
    # sensor y (forward) is ego x, sensor x (right) is ego -y
    np.testing.assert_allclose(pose.rotation @ [0, 1, 0], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pose.rotation @ [1, 0, 0], [0, -1, 0], atol=1e-12)


def test_lidar_ray_pattern():
    lidar = SensorRig.nuscenes().lidar
    dirs, ring = lidar.ray_directions()
    assert dirs.shape == (32 * 1085, 3) and ring.shape == (32 * 1085,)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)
    elev = np.rad2deg(np.arcsin(dirs[:, 2]))
    np.testing.assert_allclose([elev.min(), elev.max()], [-30.67, 10.67], atol=1e-9)
    # ring 0 is the lowest beam, 31 the highest
    np.testing.assert_allclose(elev[ring == 0], -30.67, atol=1e-9)
    np.testing.assert_allclose(elev[ring == 31], 10.67, atol=1e-9)


@pytest.mark.parametrize(("channel", "yaw_deg"), [("CAM_FRONT", 0), ("CAM_FRONT_LEFT", 55), ("CAM_BACK", 180)])
def test_camera_axes_opencv(channel, yaw_deg):
    pose = SensorRig.nuscenes().ego_from_cam(channel)
    yaw = np.deg2rad(yaw_deg)
    np.testing.assert_allclose(pose.rotation @ [0, 0, 1], [np.cos(yaw), np.sin(yaw), 0], atol=1e-12)  # z forward
    np.testing.assert_allclose(pose.rotation @ [0, 1, 0], [0, 0, -1], atol=1e-12)  # y down
    assert np.isclose(np.linalg.det(pose.rotation), 1.0)


def test_intrinsics_scale_with_resolution():
    rig = SensorRig.nuscenes()
    full = rig.intrinsics("CAM_FRONT", 1600, 900)
    half = rig.intrinsics("CAM_FRONT")  # rig default 800x450
    assert full[0, 0] == pytest.approx(1266.4)
    np.testing.assert_allclose(half[:2], full[:2] / 2)
    assert rig.intrinsics("CAM_BACK", 1600, 900)[0, 0] < 900  # wide-angle back camera
    with pytest.raises(ValidationError, match="unknown camera 'CAM_TOP'"):
        rig.camera("CAM_TOP")


def test_ego_box():
    rig = SensorRig.nuscenes()
    inside = rig.ego_box_contains(np.array([[1.3, 0.0, 0.8], [3.3, 0.9, 1.5], [3.6, 0.0, 0.5], [0.0, 1.2, 0.5]]))
    assert inside.tolist() == [True, True, False, False]
