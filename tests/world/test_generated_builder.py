"""GeneratedWorld on procedural worlds from ``scenarios.build`` (integration with the world builder)."""

import numpy as np
import pytest

from occplan.types import GridSpec, LabelSet
from occplan.world.generated import GeneratedWorld
from occplan.world.occupancy_gt import GENERAL_TO_OCC3D
from scenarios.build import build_world

GRID = GridSpec.occ3d_nuscenes()
OCC3D = LabelSet.occ3d()


@pytest.fixture(scope="module", params=[3])
def built(request):
    spec = build_world(request.param, f"scene-test-{request.param}", duration_s=4.0)
    world = GeneratedWorld(spec)
    time_us = spec.start_time_us + 2_000_000
    pose = world.logged_world_from_ego(time_us)
    scan = world.lidar_scan(pose, time_us)
    return world, pose, time_us, scan, world.occupancy(pose, time_us, GRID)


def test_point_count_like_nuscenes(built):
    _, _, _, scan, _ = built
    assert 28_000 <= len(scan.points_sensor) <= 32 * 1085


def test_lidar_points_match_gt_voxel_classes(built):
    world, _, _, scan, occ = built
    idx = GRID.index_of(world.rig.ego_from_lidar().transform_points(scan.points_sensor))
    ok = GRID.in_bounds(idx)
    assert np.mean(occ.semantics[tuple(idx[ok].T)] == GENERAL_TO_OCC3D[scan.labels[ok]]) >= 0.95
    assert occ.mask_lidar[tuple(idx[ok].T)].all()
    assert not (occ.mask_camera & ~occ.mask_lidar).any()


def test_flow_equals_box_velocity_in_ego_frame(built):
    world, pose, time_us, _, occ = built
    centers = GRID.all_centers()
    boxes = world.agent_boxes(time_us)
    inside = np.zeros((len(boxes), *GRID.shape), bool)
    for k, b in enumerate(boxes):  # test only the voxels around each box (ego frame)
        c = pose.inverse().transform_points(b.center_m[None])[0]
        lo = np.clip(GRID.index_of((c - np.linalg.norm(b.size_m))[None])[0], 0, GRID.shape)
        hi = np.clip(GRID.index_of((c + np.linalg.norm(b.size_m))[None])[0] + 1, 0, GRID.shape)
        block = tuple(slice(a, z) for a, z in zip(lo, hi))
        sub = centers[block].reshape(-1, 3)
        inside[k][block] = b.contains(pose.transform_points(sub)).reshape(centers[block].shape[:3])
    single = inside.sum(axis=0) == 1
    checked = 0
    for b, mask in zip(boxes, inside):
        sel = mask & single
        if not sel.any():
            continue
        v_ego = pose.inverse().transform_vectors(np.array([[*b.velocity_mps, 0.0]]))[0, :2]
        np.testing.assert_allclose(occ.flow[sel], np.tile(v_ego, (sel.sum(), 1)), atol=1e-4)
        checked += int(np.linalg.norm(v_ego) > 0.5)
    assert checked >= 1  # at least one moving agent inside the grid


def test_camera_semantics_agree_with_projected_lidar(built):
    world, pose, time_us, scan, _ = built
    w, h = 400, 225
    images = world.render_cameras(pose, time_us, world.rig.camera_channels, width=w, height=h)
    p_ego = world.rig.ego_from_lidar().transform_points(scan.points_sensor)
    agree = total = 0
    for ch, (_, sem) in images.items():
        pc = world.rig.ego_from_cam(ch).inverse().transform_points(p_ego)
        front = pc[:, 2] > 0.5
        uv = pc[front] @ world.rig.intrinsics(ch, w, h).T
        uv = uv[:, :2] / uv[:, 2:]
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        px = uv[inside].astype(int)
        agree += int((sem[px[:, 1], px[:, 0]] == scan.labels[front][inside]).sum())
        total += int(inside.sum())
    assert agree / total >= 0.9
