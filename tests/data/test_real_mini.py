"""The data layer on the real nuScenes extract (../shared/data/nuscenes-real-mini; skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest
from nuscenes.utils.data_classes import LidarPointCloud
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion
from shapely.geometry import Point

from occplan.data import NuScenesSource, read_pcd_bin
from occplan.errors import DataError
from occplan.interfaces import SensorRequest
from occplan.types import CAMERA_CHANNELS, Command


def _all_frames(real_scenarios: list) -> list:
    return [f for sc in real_scenarios for f in sc.frames]


def test_scenes_and_keyframes(real_source: NuScenesSource, real_scenarios: list) -> None:
    assert real_source.scene_names() == ["scene-0523", "scene-0916"]
    assert [len(sc.frames) for sc in real_scenarios] == [40, 41]
    assert real_source.scene_names("val") == ["scene-0523", "scene-0916"]  # devkit splits, filtered
    assert real_source.scenario("scene-0523") is real_scenarios[0]  # cached
    for sc in real_scenarios:
        times = [f.time_us for f in sc.frames]
        assert times == sorted(times) and [f.index for f in sc.frames] == list(range(len(sc.frames)))
    with pytest.raises(DataError, match="no scene 'scene-9999'"):
        real_source.scenario("scene-9999")


def test_every_sweep_point_count_and_frame(real_source: NuScenesSource, real_scenarios: list) -> None:
    for frame in _all_frames(real_scenarios):
        sweep = real_source.lidar(frame)
        assert 34_400 <= sweep.num_points <= 34_816
        assert np.all(sweep.time_lag_s == 0) and np.all(sweep.sweep_index == 0)
        np.testing.assert_allclose(sweep.origins_m[0], frame.ego_from_lidar.translation_m, atol=1e-9)


def test_lidar_agrees_with_devkit(real_source: NuScenesSource, real_scenarios: list) -> None:
    frame = real_scenarios[1].frames[7]
    ref = LidarPointCloud.from_file(frame.lidar_path)  # 4 columns, sensor frame
    cs = real_source.nusc.get(
        "calibrated_sensor", real_source.nusc.get("sample_data", frame.lidar_token)["calibrated_sensor_token"]
    )
    ref.rotate(Quaternion(cs["rotation"]).rotation_matrix)
    ref.translate(np.array(cs["translation"]))
    sweep = real_source.lidar(frame)
    np.testing.assert_allclose(sweep.points[:, :4], ref.points.T, atol=1e-4)
    raw = read_pcd_bin(frame.lidar_path)
    assert raw[:, 4].min() >= 0 and raw[:, 4].max() <= 31 and np.all(raw[:, 4] == np.round(raw[:, 4]))  # ring


def test_without_sweeps_the_keyframe_is_repeated(real_source: NuScenesSource, real_scenarios: list) -> None:
    """The extract has no sweeps/: a 10-sweep request gets the keyframe 10 times (first and later keyframes)."""
    for frame in (real_scenarios[0].frames[0], real_scenarios[0].frames[3]):
        key = real_source.lidar(frame)
        sweep = real_source.lidar(frame, n_sweeps=10)
        n = key.num_points
        np.testing.assert_array_equal(sweep.points, np.tile(key.points, (10, 1)))
        np.testing.assert_array_equal(sweep.sweep_index, np.repeat(np.arange(10, dtype=np.int16), n))
        np.testing.assert_array_equal(sweep.origins_m, np.repeat(key.origins_m, 10, axis=0))
        assert np.all(sweep.time_lag_s == 0)
        np.testing.assert_array_equal(sweep.points[sweep.sweep_index == 0], key.points)


def test_boxes_contain_lidar_points(real_source: NuScenesSource, real_scenarios: list) -> None:
    inside, total, ratios = 0, 0, []
    for frame in _all_frames(real_scenarios):
        points = real_source.lidar(frame).points
        for box in frame.agents:
            if box.num_lidar_pts > 20:
                n = int(box.contains(points).sum())
                inside += n > 0
                total += 1
                ratios.append(n / box.num_lidar_pts)
    assert total > 500
    assert inside / total > 0.97
    assert 0.8 < np.median(ratios) < 1.2


def test_boxes_agree_with_devkit(real_source: NuScenesSource, real_scenarios: list) -> None:
    """Point counts per box match the devkit's points_in_box on its sensor-frame boxes."""
    frame = real_scenarios[0].frames[20]
    points = real_source.lidar(frame).points
    _, ref_boxes, _ = real_source.nusc.get_sample_data(frame.lidar_token)
    ref_pts = LidarPointCloud.from_file(frame.lidar_path).points[:3]
    ours = {b.instance: b for b in frame.agents}
    assert len(ref_boxes) == len(frame.agents)
    counts = np.zeros((len(ref_boxes), 2))
    for k, ref in enumerate(ref_boxes):
        inst = real_source.nusc.get("sample_annotation", ref.token)["instance_token"]
        counts[k] = ours[inst].contains(points).sum(), points_in_box(ref, ref_pts).sum()
        distance_m = np.linalg.norm(ours[inst].center_m - frame.ego_from_lidar.translation_m)
        np.testing.assert_allclose(distance_m, np.linalg.norm(ref.center), atol=1e-6)
    # AgentBox is yaw-only; the devkit box keeps the ego's roll/pitch, which moves ground points at the
    # ends of long boxes (a 15 m trailer here) across the bottom face.
    close = np.abs(counts[:, 0] - counts[:, 1]) <= np.maximum(3, 0.2 * counts[:, 1])
    assert close.mean() > 0.95
    assert abs(counts[:, 0].sum() - counts[:, 1].sum()) <= 0.05 * counts[:, 1].sum()
    moving = [b for b in frame.agents if "vehicle.moving" in b.attributes]
    assert all(np.isfinite(b.velocity_mps).all() for b in frame.agents)
    assert not moving or max(np.linalg.norm(b.velocity_mps) for b in moving) > 0.5


def _project(cam, points_ego: np.ndarray) -> np.ndarray:
    """Points (ego) -> (M, 2) pixel coordinates of those kept by the devkit's filter (depth > 1 m, 1 px margin)."""
    pc = cam.ego_from_cam.inverse().transform_points(points_ego)
    uv = (pc @ cam.intrinsics.T)[:, :2] / pc[:, 2:3]
    keep = (
        (pc[:, 2] > 1.0)
        & (uv[:, 0] > 1)
        & (uv[:, 0] < cam.width_px - 1)
        & (uv[:, 1] > 1)
        & (uv[:, 1] < cam.height_px - 1)
    )
    return uv[keep]


def test_lidar_projects_into_every_camera(real_source: NuScenesSource, real_scenarios: list) -> None:
    for frame in _all_frames(real_scenarios)[::10]:
        assert tuple(c.channel for c in frame.cameras) == CAMERA_CHANNELS
        points = real_source.lidar(frame).points
        for cam in frame.cameras:
            uv = _project(cam, points)
            assert len(uv) > 1000, cam.channel
            assert np.all((uv >= 0) & (uv < [cam.width_px, cam.height_px]))


def test_projection_agrees_with_devkit(real_source: NuScenesSource, real_scenarios: list) -> None:
    frame = real_scenarios[1].frames[12]
    points = real_source.lidar(frame).points
    sample = real_source.nusc.get("sample", frame.sample_token)
    for cam in frame.cameras:
        ref_uv, _, _ = real_source.nusc.explorer.map_pointcloud_to_image(frame.lidar_token, sample["data"][cam.channel])
        uv = _project(cam, points)
        assert len(uv) == ref_uv.shape[1]
        np.testing.assert_allclose(uv, ref_uv[:2].T, atol=0.05)  # the devkit projects in float32
    assert frame.cameras[0].load().shape == (900, 1600, 3)


def test_future_matches_later_ego_poses(real_source: NuScenesSource, real_scenarios: list) -> None:
    nusc = real_source.nusc
    for sc in real_scenarios:
        n = len(sc.frames)
        for i, frame in enumerate(sc.frames):
            n_valid = min(6, n - 1 - i)
            assert frame.future_valid.tolist() == [k < n_valid for k in range(6)]
            here = nusc.get("ego_pose", nusc.get("sample_data", frame.lidar_token)["ego_pose_token"])
            q = Quaternion(here["rotation"])
            for k in range(n_valid):
                later = sc.frames[i + k + 1]
                assert 0.4 * (k + 1) < (later.time_us - frame.time_us) * 1e-6 < 0.6 * (k + 1)
                there = nusc.get("ego_pose", nusc.get("sample_data", later.lidar_token)["ego_pose_token"])
                rel = q.inverse.rotate(np.array(there["translation"]) - np.array(here["translation"]))
                np.testing.assert_allclose(frame.future.poses[k, :2], rel[:2], atol=1e-6)
            assert len(frame.ego_history) == min(i, 4)


def test_command_and_ego_state(real_scenarios: list) -> None:
    frames = _all_frames(real_scenarios)
    commands = [f.command for f in frames]
    assert set(commands) <= {Command.STRAIGHT, Command.LEFT, Command.RIGHT}
    assert Command.STRAIGHT in commands and len(set(commands)) >= 2
    for f in frames:
        y = f.future.poses[np.flatnonzero(f.future_valid)[-1], 1] if f.future_valid.any() else 0.0
        assert f.command == (Command.RIGHT if y <= -2 else Command.LEFT if y >= 2 else Command.STRAIGHT)
    for sc in real_scenarios:
        for a, b in zip(sc.frames[:-1], sc.frames[1:], strict=True):
            step = np.hypot(*(b.world_from_ego.translation_m - a.world_from_ego.translation_m)[:2])
            mean_speed = step / ((b.time_us - a.time_us) * 1e-6)
            assert abs(0.5 * (a.ego_state.speed_mps + b.ego_state.speed_mps) - mean_speed) < 0.5


def test_drivable_area_contains_ego(real_scenarios: list) -> None:
    for sc in real_scenarios:
        assert sc.map.kind == "polygons"
        area = sc.map.drivable_area()
        for f in sc.frames:
            assert area.contains(Point(f.ego_state.x_m, f.ego_state.y_m)), (sc.name, f.index)


def test_no_lidarseg_no_occupancy_and_sensor_frame(real_source: NuScenesSource, real_scenarios: list) -> None:
    frame = real_scenarios[0].frames[5]
    assert real_source.lidarseg(frame) is None and real_source.occupancy(frame) is None
    sf = real_source.sensor_frame(frame, SensorRequest(cameras=("CAM_FRONT", "CAM_BACK"), lidar_sweeps=1))
    sf.validate()
    assert [c.channel for c in sf.cameras] == ["CAM_FRONT", "CAM_BACK"] and sf.lidar.num_points > 34_000
    assert [p.allclose(f.world_from_ego) for p, f in zip(sf.history_world_from_ego, real_scenarios[0].frames[1:5])] == [
        True
    ] * 4
    assert real_source.sensor_frame(frame, SensorRequest()).lidar is None
