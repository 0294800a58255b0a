"""A written dataroot's world re-simulates its own logged sensors and ground truth."""

import json

import numpy as np
import pytest

from occplan.io import load_npz
from occplan.types import GridSpec, Pose
from occplan.world.generated import GeneratedWorld
from occplan.world.rig import SensorRig


def _table(root, name):
    return json.loads((root / "v1.0-occplan" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def logged(tiny_dataroot):
    """(world, first LIDAR_TOP keyframe row, its ego pose row, scene name, sample token)."""
    scene = _table(tiny_dataroot, "scene")[0]
    sample_data = [
        sd
        for sd in _table(tiny_dataroot, "sample_data")
        if sd["sample_token"] == scene["first_sample_token"] and sd["filename"].startswith("samples/LIDAR_TOP")
    ]
    poses = {p["token"]: p for p in _table(tiny_dataroot, "ego_pose")}
    sensor = next(
        c for c in _table(tiny_dataroot, "calibrated_sensor") if c["token"] == sample_data[0]["calibrated_sensor_token"]
    )
    world = GeneratedWorld.from_dataroot(tiny_dataroot, scene["name"], SensorRig.nuscenes())
    return world, sample_data[0], poses[sample_data[0]["ego_pose_token"]], sensor, scene["name"]


def test_lidar_resimulation_reproduces_the_written_sweep(tiny_dataroot, logged):
    world, sd, ego, sensor, _ = logged
    written = np.fromfile(tiny_dataroot / sd["filename"], dtype=np.float32).reshape(-1, 5)
    assert Pose.from_nuscenes(sensor["translation"], sensor["rotation"]).allclose(world.rig.ego_from_lidar(), 1e-6)
    scan = world.lidar_scan(Pose.from_nuscenes(ego["translation"], ego["rotation"]), sd["timestamp"])
    assert np.array_equal(scan.points_sensor, written)  # bit for bit


def test_occupancy_recomputation_matches_the_written_gt(tiny_dataroot, logged):
    world, sd, ego, _, scene_name = logged
    keys = ("semantics", "mask_lidar", "mask_camera")
    gt = load_npz(tiny_dataroot / "gts" / scene_name / sd["sample_token"] / "labels.npz", keys)
    occ = world.occupancy(
        Pose.from_nuscenes(ego["translation"], ego["rotation"]), sd["timestamp"], GridSpec.occ3d_nuscenes()
    )
    assert np.array_equal(occ.semantics, gt["semantics"])
    assert np.array_equal(occ.mask_lidar, gt["mask_lidar"].astype(bool))
    assert np.array_equal(occ.mask_camera, gt["mask_camera"].astype(bool))
