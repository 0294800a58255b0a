"""Integration on the generated "tiny" dataroot: devkit, occplan.data and cross-sensor consistency."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
from PIL import Image

from occplan.data import NuScenesSource
from occplan.types import CAMERA_CHANNELS, GridSpec, LabelSet
from scenarios.datasets import MANIFEST, PRESETS, ensure, manifest_for
from scenarios.writer import VERSION
from scenarios.writer.sensor_files import semantic_filename

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def source(tiny_dataroot) -> NuScenesSource:
    return NuScenesSource(tiny_dataroot, VERSION)


def test_cache_is_reused(tiny_dataroot):
    manifest = (tiny_dataroot / MANIFEST).read_text()
    assert ensure("tiny", cache_dir=tiny_dataroot.parent, progress=False) == tiny_dataroot
    assert (tiny_dataroot / MANIFEST).read_text() == manifest
    assert json.loads(manifest) == manifest_for(PRESETS["tiny"])


def test_splits_and_scenarios(source, tiny_dataroot):
    splits = json.loads((tiny_dataroot / "splits.json").read_text())
    assert splits == {"train": ["scene-0000"], "val": ["scene-0001"]}
    assert source.scene_names("train") == ["scene-0000"] and source.scene_names("val") == ["scene-0001"]
    for name in source.scene_names():
        scenario = source.scenario(name)
        assert len(scenario.frames) == 13
        assert (tiny_dataroot / "occplan_worlds" / name).is_dir()


def test_map_through_devkit_and_source(source, tiny_dataroot):
    from nuscenes.map_expansion.map_api import NuScenesMap

    for log in source.nusc.log:
        m = NuScenesMap(str(tiny_dataroot), log["location"])
        lanes = [r["token"] for r in m.lane + m.lane_connector]
        assert lanes and all(len(p) > 1 for p in m.discretize_lanes(lanes, 0.5).values())
        assert any(m.get_outgoing_lane_ids(t) for t in lanes)
        info = source.map(log["location"])
        assert info.kind == "expansion" and info.drivable_area().area > 100.0


def test_lidarseg_agrees_with_occupancy_gt(source):
    """>= 95 % of keyframe points carry a class that maps to the Occ3D class of their GT voxel."""
    grid, to_occ = GridSpec.occ3d_nuscenes(), LabelSet.lidarseg_general().table_to(LabelSet.occ3d())
    agree = total = 0
    for name in source.scene_names():
        for frame in source.scenario(name).frames[::4]:
            points = source.lidar(frame).points
            labels = source.lidarseg(frame)
            occ = source.occupancy(frame)
            idx = grid.index_of(points[:, :3])
            inside = grid.in_bounds(idx)
            gt = occ.semantics[tuple(idx[inside].T)]
            agree += int(np.count_nonzero(gt == to_occ[labels[inside]]))
            total += int(inside.sum())
    assert total > 10_000 and agree / total >= 0.95


def test_camera_semantics_agree_with_projected_lidar(source, tiny_dataroot):
    """>= 90 % of LiDAR points visible in a camera land on a pixel of the same lidarseg class."""
    agree = total = 0
    for name in source.scene_names():
        frame = source.scenario(name).frames[6]
        points = source.lidar(frame).points[:, :3].astype(np.float64)
        labels = source.lidarseg(frame)
        for cam in frame.cameras:
            semantic = np.asarray(Image.open(tiny_dataroot / semantic_filename(cam.image_path)))
            p_cam = cam.ego_from_cam.inverse().transform_points(points)
            front = p_cam[:, 2] > 1.0
            uv = (p_cam[front] @ cam.intrinsics.T)[:, :2] / p_cam[front, 2:3]
            u, v = np.floor(uv).astype(int).T
            ok = (u >= 0) & (u < cam.width_px) & (v >= 0) & (v < cam.height_px)
            agree += int(np.count_nonzero(semantic[v[ok], u[ok]] == labels[front][ok]))
            total += int(ok.sum())
    assert total > 5_000 and agree / total >= 0.90


def test_devkit_renders_a_generated_sample(source, tmp_path):
    sample = source.nusc.sample[3]
    out = tmp_path / "pc.png"
    source.nusc.render_pointcloud_in_image(sample["token"], out_path=str(out), verbose=False, show_lidarseg=True)
    assert np.asarray(Image.open(out).convert("L"), dtype=float).std() > 5.0
    matplotlib.pyplot.close("all")
    assert set(sample["data"]) == {"LIDAR_TOP", *CAMERA_CHANNELS}
