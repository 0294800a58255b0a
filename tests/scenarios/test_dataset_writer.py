"""The nuScenes-format writer on a hand-made world: tables, chains, poses, calibration, files, map, GT.

Independent of the procedural builder: the expected values follow from ``handmade_world``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from occplan.data import read_occ3d, read_pcd_bin
from occplan.types import CAMERA_CHANNELS, AgentBox, LabelSet, Pose
from occplan.world.generated import GeneratedWorld
from occplan.world.rig import SensorRig
from scenarios.writer import VERSION, SensorCalibration, write_scene, write_tables
from scenarios.writer.map_expansion import expansion_json, write_map
from tests.scenarios.handmade_world import LOCATION, ROAD_Y_M, START_US, handmade_world

matplotlib.use("Agg")
CAM_W, CAM_H = 160, 90
GENERAL = LabelSet.lidarseg_general()


def _write(root: Path, duration_s: float = 2.0, seed: int = 7, cam: tuple[int, int] = (CAM_W, CAM_H)) -> Path:
    spec = handmade_world(duration_s, seed)
    rig = SensorRig.nuscenes(*cam)
    tables, _ = write_scene(spec, GeneratedWorld(spec, rig=rig), SensorCalibration.from_rig(rig), root)
    write_tables(root, [tables])
    write_map(root, spec.map, spec.location)
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("handmade"))


@pytest.fixture(scope="module")
def nusc(root):
    from nuscenes.nuscenes import NuScenes

    return NuScenes(VERSION, str(root), verbose=False)


def _chain(nusc, first: str, table: str) -> list[dict]:
    rows, token = [], first
    while token:
        rows.append(nusc.get(table, token))
        token = rows[-1]["next"]
    return rows


def _png_std(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("L"), dtype=np.float64).std())


def test_tables_counts_and_chains(nusc):
    assert [len(getattr(nusc, t)) for t in ("scene", "sample", "sensor", "calibrated_sensor", "log", "map")] == [
        1, 5, 7, 7, 1, 1,
    ]  # fmt: skip
    assert len(nusc.category) == 32 and sorted(c["index"] for c in nusc.category) == list(range(32))
    assert len(nusc.sample_data) == 41 + 5 * 6 and len(nusc.ego_pose) == len(nusc.sample_data)
    scene = nusc.scene[0]
    samples = _chain(nusc, scene["first_sample_token"], "sample")
    assert [s["timestamp"] for s in samples] == [START_US + k * 500_000 for k in range(5)]
    assert samples[-1]["token"] == scene["last_sample_token"] and scene["nbr_samples"] == 5
    for s in samples:
        assert set(s["data"]) == {"LIDAR_TOP", *CAMERA_CHANNELS}
    lidar = _chain(nusc, samples[0]["data"]["LIDAR_TOP"], "sample_data")
    assert [r["timestamp"] for r in lidar] == [START_US + k * 50_000 for k in range(41)]
    assert [r["is_key_frame"] for r in lidar] == [k % 10 == 0 for k in range(41)]
    assert all(r["filename"].startswith("samples/" if r["is_key_frame"] else "sweeps/") for r in lidar)
    # a sweep belongs to its nearest keyframe
    assert lidar[4]["sample_token"] == samples[0]["token"] and lidar[6]["sample_token"] == samples[1]["token"]
    cam = _chain(nusc, samples[0]["data"]["CAM_FRONT"], "sample_data")
    assert len(cam) == 5 and all(r["is_key_frame"] and (r["width"], r["height"]) == (CAM_W, CAM_H) for r in cam)


def test_ego_poses_and_calibration_match_the_spec(nusc):
    rig = SensorRig.nuscenes(CAM_W, CAM_H)
    for sd in nusc.sample_data:
        pose = nusc.get("ego_pose", sd["ego_pose_token"])
        t_s = (sd["timestamp"] - START_US) / 1e6
        assert pose["timestamp"] == sd["timestamp"]
        np.testing.assert_allclose(pose["translation"], [130.0 + 4.0 * t_s, ROAD_Y_M, 0.0], atol=1e-9)
        np.testing.assert_allclose(pose["rotation"], [1.0, 0.0, 0.0, 0.0], atol=1e-12)
    for cs in nusc.calibrated_sensor:
        channel = nusc.get("sensor", cs["sensor_token"])["channel"]
        want = rig.ego_from_lidar() if channel == "LIDAR_TOP" else rig.ego_from_cam(channel)
        assert Pose.from_nuscenes(cs["translation"], cs["rotation"]).allclose(want, atol=1e-12)
        if channel != "LIDAR_TOP":
            np.testing.assert_allclose(cs["camera_intrinsic"], rig.intrinsics(channel, CAM_W, CAM_H))


def test_annotations_follow_the_car(nusc, root):
    assert len(nusc.instance) == 1
    inst = nusc.instance[0]
    anns = _chain(nusc, inst["first_annotation_token"], "sample_annotation")
    assert len(anns) == inst["nbr_annotations"] == 5 and anns[-1]["token"] == inst["last_annotation_token"]
    assert nusc.get("category", inst["category_token"])["name"] == "vehicle.car"
    for ann in anns:
        sample = nusc.get("sample", ann["sample_token"])
        t_s = (sample["timestamp"] - START_US) / 1e6
        np.testing.assert_allclose(ann["translation"], [150.0 + 5.0 * t_s, ROAD_Y_M + 3.5, 0.8], atol=1e-9)
        assert ann["size"] == [1.9, 4.5, 1.6] and ann["visibility_token"] == "4"
        assert [nusc.get("attribute", a)["name"] for a in ann["attribute_tokens"]] == ["vehicle.moving"]
        # num_lidar_pts agrees with a plain count of keyframe points inside the box
        sd = nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        ep = nusc.get("ego_pose", sd["ego_pose_token"])
        world_from_lidar = Pose.from_nuscenes(ep["translation"], ep["rotation"]) @ Pose.from_nuscenes(
            cs["translation"], cs["rotation"]
        )
        pts = world_from_lidar.transform_points(read_pcd_bin(root / sd["filename"]))
        box = AgentBox(np.array(ann["translation"]), np.array(ann["size"]), 0.0, np.zeros(2), "vehicle.car", "car-0")
        assert ann["num_lidar_pts"] == int(box.contains(pts, margin_m=1e-3).sum()) > 0


def test_lidarseg_matches_points(nusc, root):
    assert len(nusc.lidarseg) == 5
    for rec in nusc.lidarseg:
        sd = nusc.get("sample_data", rec["sample_data_token"])
        assert rec["token"] == sd["token"] and sd["is_key_frame"]
        n = len(read_pcd_bin(root / sd["filename"]))
        labels = np.fromfile(root / rec["filename"], dtype=np.uint8)
        assert len(labels) == n > 20_000
        names = {GENERAL.class_names[i] for i in np.unique(labels)}
        assert names <= {"flat.driveable_surface", "static.manmade", "vehicle.car"}


def test_occupancy_gt_flow_inside_the_moving_box(nusc, root):
    sample = nusc.sample[2]
    occ = read_occ3d(root / "gts" / "scene-hand" / sample["token"] / "labels.npz")
    car = LabelSet.occ3d().index("car")
    assert occ.mask_lidar.any() and occ.mask_camera.any() and (occ.semantics == car).any()
    np.testing.assert_allclose(occ.flow[occ.semantics == car] - [5.0, 0.0], 0.0, atol=1e-5)
    assert not occ.flow[occ.semantics != car].any()


def test_devkit_renders(nusc, tmp_path):
    sample = nusc.sample[1]
    for channel in ("LIDAR_TOP", "CAM_FRONT"):
        out = tmp_path / f"{channel}.png"
        nusc.render_sample_data(sample["data"][channel], out_path=str(out), verbose=False)
        assert _png_std(out) > 5.0
    out = tmp_path / "pc_in_image.png"
    nusc.render_pointcloud_in_image(sample["token"], out_path=str(out), verbose=False, show_lidarseg=True)
    assert _png_std(out) > 5.0
    matplotlib.pyplot.close("all")


def test_map_expansion_loads_and_discretises(root, nusc):
    from nuscenes.map_expansion.map_api import NuScenesMap

    m = NuScenesMap(str(root), LOCATION)
    assert len(m.lane) == 2 and len(m.drivable_area) == 1 and len(m.ped_crossing) == 1
    first, second = (r["token"] for r in m.lane)
    assert m.get_outgoing_lane_ids(first) == [second] and m.get_incoming_lane_ids(second) == [first]
    poses = np.array(m.discretize_lanes([first], 1.0)[first])
    np.testing.assert_allclose(poses[[0, -1], :2], [[100.0, ROAD_Y_M], [200.0, ROAD_Y_M]], atol=1e-6)
    assert m.get_closest_lane(150.0, ROAD_Y_M + 0.5) == first
    assert m.layers_on_point(150.0, ROAD_Y_M)["drivable_area"] == m.drivable_area[0]["token"]
    mask = nusc.get("map", nusc.log[0]["map_token"])["mask"]
    assert mask.is_on_mask(150.0, ROAD_Y_M).all() and not mask.is_on_mask(150.0, ROAD_Y_M + 20.0).any()


def test_map_rejects_negative_coordinates():
    from dataclasses import replace

    from occplan.errors import ValidationError

    layers = handmade_world().map
    shifted = replace(layers, drivable_area=("POLYGON ((-5 0, 5 0, 5 5, -5 5, -5 0))",))
    with pytest.raises(ValidationError, match="x, y >= 0"):
        expansion_json(shifted, "neg")


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_same_world_same_bytes(tmp_path):
    a = _digest(_write(tmp_path / "a", duration_s=0.5, cam=(32, 18)))
    b = _digest(_write(tmp_path / "b", duration_s=0.5, cam=(32, 18)))
    assert a == b and len(a) > 30
