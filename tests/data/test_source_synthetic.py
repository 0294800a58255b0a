"""NuScenesSource code paths the real extract lacks (sweeps, lidarseg, map expansion, occupancy GT),
and clear errors for broken dataroots, on the synthetic dataroot of ``synthetic.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point

from occplan.data import NuScenesSource, read_pcd_bin
from occplan.data.lidar import sweep_chain
from occplan.errors import DataError
from occplan.interfaces import SensorRequest
from occplan.types import LabelSet

from . import synthetic as S


def test_multisweep_ego_motion_compensation(synth_source: NuScenesSource) -> None:
    frame = synth_source.scenario(S.SCENE).frames[1]
    sweep = synth_source.lidar(frame, n_sweeps=5)
    lags = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(np.unique(sweep.time_lag_s), lags, atol=1e-6)
    # Ego drives +x at SPEED_MPS with yaw 0: a sweep taken lag seconds earlier is shifted by -speed * lag.
    shift = np.column_stack([-S.SPEED_MPS * lags, np.zeros(5), np.zeros(5)])
    np.testing.assert_allclose(sweep.origins_m, S.LIDAR_IN_EGO_M + shift, atol=1e-9)
    expected = (S.POINTS_SENSOR[None, :, :3] + S.LIDAR_IN_EGO_M + shift[:, None, :]).reshape(-1, 3)
    np.testing.assert_allclose(sweep.points[:, :3], expected, atol=1e-5)
    np.testing.assert_array_equal(sweep.points[:, 3:], np.tile(S.POINTS_SENSOR[:, 3:], (5, 1)))
    np.testing.assert_array_equal(sweep.sweep_index, np.repeat(np.arange(5), 3))


def test_sweeps_beyond_the_chain_start_repeat_the_earliest(synth_source: NuScenesSource) -> None:
    first = synth_source.scenario(S.SCENE).frames[0]
    assert len(sweep_chain(synth_source.nusc, first.lidar_token, 8)) == 5  # 4 sweeps before the first keyframe
    have, padded = synth_source.lidar(first, n_sweeps=5), synth_source.lidar(first, n_sweeps=8)
    n = len(S.POINTS_SENSOR)
    np.testing.assert_array_equal(padded.sweep_index, np.repeat(np.arange(8), n))
    np.testing.assert_array_equal(padded.points[: 5 * n], have.points)
    np.testing.assert_array_equal(padded.points[5 * n :], np.tile(have.points[4 * n :], (3, 1)))
    np.testing.assert_array_equal(padded.time_lag_s[5 * n :], np.full(3 * n, have.time_lag_s[-1]))
    assert have.time_lag_s[-1] == pytest.approx(0.4)
    np.testing.assert_array_equal(padded.origins_m, np.vstack([have.origins_m, np.repeat(have.origins_m[-1:], 3, 0)]))
    # Sweeps reach back across the previous keyframe (10 Hz chain through it).
    assert synth_source.lidar(synth_source.scenario(S.SCENE).frames[2], n_sweeps=10).origins_m.shape == (10, 3)


def test_ego_state_future_and_boxes(synth_source: NuScenesSource) -> None:
    scenario = synth_source.scenario(S.SCENE)
    assert [f.ego_state.speed_mps for f in scenario.frames] == pytest.approx([S.SPEED_MPS] * 3)
    assert [f.ego_state.accel_mps2 for f in scenario.frames] == pytest.approx([0.0] * 3, abs=1e-9)
    frame = scenario.frames[0]
    assert frame.future_valid.tolist() == [True, True, False, False, False, False]
    np.testing.assert_allclose(frame.future.poses[:, 0], [2.5, 5.0, 5.0, 5.0, 5.0, 5.0])  # invalid repeat last
    (box,) = frame.agents
    np.testing.assert_allclose(box.center_m, [10.0, 3.0, 0.8])
    np.testing.assert_allclose(box.velocity_mps, [S.CAR_SPEED_MPS, 0.0])
    assert box.attributes == ("vehicle.moving",) and box.category == "vehicle.car"
    np.testing.assert_allclose(scenario.frames[1].agents[0].center_m, [10.0 + 1.0 - 2.5, 3.0, 0.8])


def test_camera_extrinsics_compensate_ego_motion(synth_source: NuScenesSource) -> None:
    frame = synth_source.scenario(S.SCENE).frames[1]
    (cam,) = frame.cameras
    # Image taken 20 ms after the LiDAR: the camera has moved 0.1 m further along x.
    np.testing.assert_allclose(cam.ego_from_cam.translation_m, [1.5 + S.SPEED_MPS * 0.02, 0.0, 1.5], atol=1e-9)
    np.testing.assert_allclose(cam.ego_from_cam.rotation @ [0, 0, 1], [1, 0, 0], atol=1e-12)  # looks forward
    assert cam.load().shape == (*S.IMAGE_HW, 3)


def test_lidarseg_general_and_challenge(synth_source: NuScenesSource) -> None:
    frame = synth_source.scenario(S.SCENE).frames[2]
    general = synth_source.lidarseg(frame)
    names = LabelSet.lidarseg_general().class_names
    assert [names[i] for i in general] == ["vehicle.car", "flat.driveable_surface", "static.manmade"]
    challenge = synth_source.lidarseg(frame, LabelSet.lidarseg_challenge())
    assert [LabelSet.lidarseg_challenge().class_names[i] for i in challenge] == ["car", "driveable_surface", "manmade"]


@pytest.mark.parametrize("kind", ["expansion", "polygons", "none"])
def test_map_sources(tmp_path: Path, kind: str) -> None:
    source = NuScenesSource(S.write_dataroot(tmp_path / "root", map_kind=kind), S.VERSION)
    info = source.scenario(S.SCENE).map
    assert info.kind == kind
    if kind == "none":
        assert not info.has_map and "drivable_area" in info.source
        with pytest.raises(ValueError, match="no map"):
            info.drivable_area()
        return
    area = info.drivable_area()
    assert area.contains(Point(0.0, 0.0)) and not area.contains(Point(0.0, 20.0))
    assert area.contains(Point(1.0, 6.0)) == (kind == "polygons")  # the expansion polygon has a hole there


def test_occupancy_detection(tmp_path: Path) -> None:
    root = S.write_dataroot(tmp_path / "root")
    source = NuScenesSource(root, S.VERSION)
    frame = source.scenario(S.SCENE).frames[1]
    assert source.occupancy(frame) is None
    sparse_dir = root / "nuScenes-Occupancy" / "scene_scene" / "occupancy"
    sparse_dir.mkdir(parents=True)
    np.save(sparse_dir / f"{frame.lidar_token}.npy", np.array([[0, 0, 0, 4]]))
    occ = source.occupancy(frame)
    assert occ.grid.name == "openoccupancy" and occ.world_from_grid.allclose(
        frame.world_from_ego @ frame.ego_from_lidar
    )
    gt = root / "gts" / S.SCENE / frame.sample_token
    gt.mkdir(parents=True)
    shape = (200, 200, 16)
    flow = np.full((*shape, 2), 1.5, np.float32)
    np.savez_compressed(gt / "labels.npz", semantics=np.full(shape, 17, np.uint8), mask_lidar=np.ones(shape, np.uint8),
                        mask_camera=np.ones(shape, np.uint8), flow=flow)  # fmt: skip
    occ = source.occupancy(frame)  # Occ3D wins over the sparse format
    assert occ.grid.name == "occ3d_nuscenes" and occ.world_from_grid.allclose(frame.world_from_ego)
    assert occ.time_us == frame.time_us and np.all(occ.flow == 1.5)


def test_splits_json(tmp_path: Path, synth_source: NuScenesSource) -> None:
    assert synth_source.scene_names("val") == [S.SCENE]  # no splits.json, scene unknown to the devkit
    root = S.write_dataroot(tmp_path / "root")
    (root / "splits.json").write_text('{"train": [], "val": ["scene-synth"]}')
    source = NuScenesSource(root, S.VERSION)
    assert source.scene_names("train") == [] and source.scene_names("val") == [S.SCENE]
    with pytest.raises(DataError, match=r"splits.json: no split 'test'"):
        source.scene_names("test")


# --- broken dataroots ------------------------------------------------------------------------------


def test_missing_table(tmp_path: Path, synth_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(synth_root, root)
    (root / S.VERSION / "ego_pose.json").unlink()
    with pytest.raises(DataError, match=r"ego_pose\.json: required nuScenes table 'ego_pose' is missing"):
        NuScenesSource(root, S.VERSION)
    with pytest.raises(DataError, match="table folder for version 'v9' not found"):
        NuScenesSource(root, "v9")


def test_corrupt_table(tmp_path: Path, synth_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(synth_root, root)
    (root / S.VERSION / "sample.json").write_text('[{"token": ')
    with pytest.raises(DataError, match=r"sample\.json: nuscenes-devkit could not load it \(JSONDecodeError"):
        NuScenesSource(root, S.VERSION)


def test_dangling_token(tmp_path: Path, synth_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(synth_root, root)
    poses = root / S.VERSION / "ego_pose.json"
    poses.write_text(poses.read_text().replace('"ep-cam-1"', '"ep-cam-x"'))
    source = NuScenesSource(root, S.VERSION)
    with pytest.raises(DataError, match=r"ego_pose\.json: no row with token 'ep-cam-1' \(referenced by sample_data"):
        source.scenario(S.SCENE)


def test_missing_and_truncated_sensor_files(tmp_path: Path, synth_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(synth_root, root)
    source = NuScenesSource(root, S.VERSION)
    frame = source.scenario(S.SCENE).frames[1]
    Path(frame.lidar_path).unlink()
    with pytest.raises(DataError, match=r"lidar_\d+\.pcd\.bin: LiDAR file not found"):
        source.lidar(frame)
    Path(frame.cameras[0].image_path).unlink()
    with pytest.raises(DataError, match=r"cam_\d+\.png: image file not found"):
        frame.cameras[0].load()
    other = source.scenario(S.SCENE).frames[2]
    Path(other.lidar_path).write_bytes(Path(other.lidar_path).read_bytes()[:-4])
    with pytest.raises(DataError, match="not a multiple of 20 B"):
        read_pcd_bin(other.lidar_path)
    with pytest.raises(DataError, match="not a multiple of 20 B"):
        source.lidarseg(other)


def test_lidarseg_length_mismatch(tmp_path: Path, synth_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(synth_root, root)
    source = NuScenesSource(root, S.VERSION)
    frame = source.scenario(S.SCENE).frames[0]
    (root / "lidarseg" / S.VERSION / f"{frame.lidar_token}_lidarseg.bin").write_bytes(bytes([17, 24]))
    with pytest.raises(DataError, match="_lidarseg.bin: 2 labels for 3 LiDAR points"):
        source.lidarseg(frame)
    (root / "lidarseg" / S.VERSION / f"{frame.lidar_token}_lidarseg.bin").write_bytes(bytes([17, 24, 99]))
    with pytest.raises(DataError, match=r"1 labels not defined in category.json \(e.g. \[99\]\)"):
        source.lidarseg(frame)


def test_sensor_frame_requests(synth_source: NuScenesSource) -> None:
    frame = synth_source.scenario(S.SCENE).frames[2]
    sf = synth_source.sensor_frame(frame, SensorRequest(cameras=("CAM_FRONT",), lidar_sweeps=3))
    assert sf.lidar.origins_m.shape == (3, 3) and len(sf.history_world_from_ego) == 2
    first = synth_source.scenario(S.SCENE).frames[0]  # 5 sweeps exist: a 7-sweep model still gets 7
    assert synth_source.sensor_frame(first, SensorRequest(lidar_sweeps=7)).lidar.origins_m.shape == (7, 3)
    with pytest.raises(DataError, match=r"lacks cameras \['CAM_BACK'\]"):
        synth_source.sensor_frame(frame, SensorRequest(cameras=("CAM_BACK",)))
