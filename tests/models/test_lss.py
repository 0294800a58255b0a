"""LSS lifting (models.lss): frustum geometry, precomputed-index pooling, LiDAR depth targets, and the
training-request hook that gives camera models LiDAR for their depth targets only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.lss.depth import NO_DEPTH, depth_loss, depth_targets
from models.lss.geometry import DepthBins, frustum_ego
from models.lss.pool import PoolGrid, PoolIndex, PoolIndexCache, build_pool_index, lss_pool
from models.lss.view_transformer import LSSViewTransformer
from occplan.types import Pose

# camera axes (x right, y down, z forward) -> ego (x forward, y left, z up); camera 1.5 m ahead, 1.5 m up
CAM_TO_EGO_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAM_POS_M = np.array([1.5, 0.0, 1.5])
K = np.array([[100.0, 0.0, 84.0], [0.0, 100.0, 44.0], [0.0, 0.0, 1.0]])  # principal point = centre of cell (5, 10)
STRIDE, FEATURE_HW = 8, (11, 20)  # a 160 x 88 image
BINS = DepthBins(1.0, 45.0, 1.0)
OCC3D_MIN, OCC3D_MAX = (-40.0, -40.0, -1.0), (40.0, 40.0, 5.4)


def img_from_ego(yaw_rad: float = 0.0, position_m: np.ndarray = CAM_POS_M) -> np.ndarray:
    """(3, 4) projection of a camera yawed by ``yaw_rad`` (0 = looking along ego x) at ``position_m``."""
    rot = Pose.from_xy_yaw(0.0, 0.0, yaw_rad).rotation @ CAM_TO_EGO_AXES
    ego_from_cam = Pose(rot, np.asarray(position_m, dtype=np.float64))
    return K @ ego_from_cam.inverse().matrix[:3]


def test_depth_bins():
    assert BINS.num == 44
    np.testing.assert_allclose(BINS.centers_m()[[0, 9, 43]].numpy(), [1.5, 10.5, 44.5])


def test_depth_targets_put_a_point_in_the_hand_computed_cell_and_bin():
    # camera coordinates (x 2, y -1, z 10.3): u = 100 * 2 / 10.3 + 84 = 103.4 -> column 12;
    # v = 100 * -1 / 10.3 + 44 = 34.3 -> row 4; depth bin floor(10.3 - 1) = 9; in ego: (z, -x, -y) + camera position
    near = np.array([10.3 + 1.5, -2.0, 1.0 + 1.5])
    far = np.array([20.0 + 1.5, -2.0 * 20.0 / 10.3, 1.0 * 20.0 / 10.3 + 1.5])  # same ray, 20 m: the nearer one wins
    behind = np.array([-5.0, 0.0, 1.5])  # behind the camera: ignored
    too_far = np.array([50.0 + 1.5, 0.0, 1.5])  # on the optical axis (cell (5, 10)) beyond 45 m
    targets = depth_targets(np.stack([far, near, behind, too_far]), img_from_ego()[None], FEATURE_HW, STRIDE, BINS)
    assert targets.shape == (1, 11, 20) and targets.dtype == np.int64
    assert targets[0, 4, 12] == 9
    assert targets[0, 5, 10] == NO_DEPTH
    assert np.count_nonzero(targets != NO_DEPTH) == 1


def test_depth_targets_per_camera():
    # a point straight behind the ego is seen by a camera yawed by 180 degrees only, at depth 9.5 (bin 8)
    point = np.array([[-1.5 - 9.5, 0.0, 1.5]])
    projs = np.stack([img_from_ego(0.0), img_from_ego(np.pi, np.array([-1.5, 0.0, 1.5]))])
    t = depth_targets(point, projs, FEATURE_HW, STRIDE, BINS)
    assert np.count_nonzero(t[0] != NO_DEPTH) == 0
    assert t[1, 5, 10] == 8 and np.count_nonzero(t[1] != NO_DEPTH) == 1


def test_depth_loss_ignores_cells_without_target():
    logits = torch.zeros(1, 1, 4, 2, 2, requires_grad=True)
    target = torch.full((1, 1, 2, 2), NO_DEPTH)
    assert float(depth_loss(logits, target).detach()) == 0.0
    target[0, 0, 1, 0] = 2
    assert float(depth_loss(logits, target).detach()) == pytest.approx(np.log(4.0))


def test_frustum_points_reproject_to_their_pixel_and_depth():
    proj = torch.from_numpy(img_from_ego(0.7)).float()[None]
    pts = frustum_ego(proj, FEATURE_HW, STRIDE, BINS)  # (1, D, Hf, Wf, 3)
    assert pts.shape == (1, 44, 11, 20, 3)
    q = torch.cat([pts, torch.ones_like(pts[..., :1])], -1) @ proj[0].T
    d = q[..., 2]
    torch.testing.assert_close(d[0, :, 0, 0], BINS.centers_m(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(q[0, 3, 7, 13, 0] / d[0, 3, 7, 13], torch.tensor(13.5 * STRIDE), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(q[0, 3, 7, 13, 1] / d[0, 3, 7, 13], torch.tensor(7.5 * STRIDE), rtol=1e-5, atol=1e-3)
    # the principal-point cell's frustum points lie on the optical axis, straight ahead (yaw 0)
    axis = frustum_ego(torch.from_numpy(img_from_ego()).float()[None], FEATURE_HW, STRIDE, BINS)[0, :, 5, 10]
    expected = np.column_stack([1.5 + BINS.centers_m().numpy(), np.zeros(44), np.full(44, 1.5)])
    np.testing.assert_allclose(axis.numpy(), expected, atol=1e-4)


def test_pooling_puts_a_points_feature_in_the_hand_computed_voxel():
    grid = PoolGrid(OCC3D_MIN, OCC3D_MAX, (100, 100, 8))  # 0.8 m voxels
    index = build_pool_index(torch.from_numpy(img_from_ego()).float()[None], FEATURE_HW, STRIDE, BINS, grid)
    depth = torch.zeros(1, 44, 11, 20)
    depth[0, 9, 5, 10] = 1.0  # bin 9 (10.5 m) of the optical-axis cell -> ego (12.0, 0, 1.5)
    context = torch.zeros(1, 3, 11, 20)
    context[0, :, 5, 10] = torch.tensor([1.0, 2.0, 3.0])
    context[0, :, 0, 0] = 7.0  # another pixel: contributes nothing (depth 0)
    vol = lss_pool(depth, context, index, grid.num_cells).view(100, 100, 8, 3)
    # x = floor((12 + 40) / 0.8) = 65, y = floor(40 / 0.8) = 50, z = floor((1.5 + 1) / 0.8) = 3
    np.testing.assert_allclose(vol[65, 50, 3].numpy(), [1.0, 2.0, 3.0])
    assert float(vol.abs().sum()) == pytest.approx(6.0)
    assert bool((index.cell[1:] >= index.cell[:-1]).all())  # sorted by cell


def _reference_pool(depth, context, projs, grid_shape, cell_m, lo):
    """Plain numpy splat: every frustum point's ego position -> voxel, accumulate depth x context."""
    b, n, _dn, hf, wf = depth.shape
    out = np.zeros((b, *grid_shape, context.shape[2]))
    u = (np.arange(wf) + 0.5) * STRIDE
    v = (np.arange(hf) + 0.5) * STRIDE
    for bi in range(b):
        for ci in range(n):
            m, p = projs[bi, ci, :, :3], projs[bi, ci, :, 3]
            for k, dk in enumerate(BINS.centers_m().numpy().astype(np.float64)):
                q = np.stack([*np.meshgrid(u * dk, v * dk, indexing="xy"), np.full((hf, wf), dk)], -1)
                x = np.linalg.solve(m, (q - p).reshape(-1, 3).T).T
                idx = np.floor((x - lo) / cell_m).astype(int)
                ok = np.all((idx >= 0) & (idx < grid_shape), axis=1)
                w = depth[bi, ci, k].reshape(-1)[ok, None] * context[bi, ci].reshape(context.shape[2], -1).T[ok]
                np.add.at(out[bi], tuple(idx[ok].T), w)
    return out


def test_batched_pooling_agrees_with_a_plain_reference():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    grid = PoolGrid(OCC3D_MIN, OCC3D_MAX, (50, 50, 4))  # 1.6 m voxels
    vt = LSSViewTransformer(4, 3, BINS, grid, STRIDE)
    pos = np.array([1.53, 0.07, 1.51])  # off the voxel boundaries (y = 0 is one), where float32 rounding decides
    projs = np.stack([[img_from_ego(y, pos) for y in (0.0, 2.0)], [img_from_ego(y, pos) for y in (1.0, -1.5)]])
    depth = torch.from_numpy(rng.random((2, 2, 44, 11, 20))).float()
    context = torch.from_numpy(rng.standard_normal((2, 2, 3, 11, 20))).float()
    index = vt.batch_index(torch.from_numpy(projs).float(), FEATURE_HW)
    got = lss_pool(depth, context.flatten(0, 1), index, 2 * grid.num_cells).view(2, 50, 50, 4, 3)
    want = _reference_pool(depth.numpy(), context.numpy(), projs, np.array([50, 50, 4]), 1.6, np.array(OCC3D_MIN))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-3)
    assert len(vt.index_cache) == 2  # one entry per sample calibration (its N cameras)


def test_bev_pooling_sums_the_pillar_and_drops_points_outside_z():
    bev = PoolGrid(OCC3D_MIN, OCC3D_MAX, (100, 100))
    pts = torch.tensor([[12.0, 0.0, 1.5], [12.3, 0.5, 5.0], [12.0, 0.0, 5.5], [-40.1, 0.0, 0.0]])
    # x floor(52 / 0.8) = 65, y 50 -> 65 * 100 + 50; second: x floor(52.3 / 0.8) = 65, y floor(40.5 / 0.8) = 50
    assert bev.cell_index(pts).tolist() == [6550, 6550, -1, -1]
    vox = PoolGrid(OCC3D_MIN, OCC3D_MAX, (100, 100, 8))
    assert vox.cell_index(pts[:1]).tolist() == [(65 * 100 + 50) * 8 + 3]


def test_pool_index_cache_reuses_an_index_per_calibration():
    grid = PoolGrid(OCC3D_MIN, OCC3D_MAX, (50, 50, 4))
    cache = PoolIndexCache(STRIDE, BINS, grid, max_entries=2)
    a, b = torch.from_numpy(img_from_ego(0.0)).float()[None], torch.from_numpy(img_from_ego(1.0)).float()[None]
    first = cache(a, FEATURE_HW)
    assert cache(a.clone(), FEATURE_HW) is first and len(cache) == 1
    fresh: PoolIndex = build_pool_index(a, FEATURE_HW, STRIDE, BINS, grid)
    assert torch.equal(first.cell, fresh.cell) and torch.equal(first.point, fresh.point)
    assert cache(b, FEATURE_HW) is not first and len(cache) == 2
    cache(a, (10, 20))
    assert len(cache) == 2  # the oldest entry went


def test_training_request_adds_lidar_for_depth_targets_only(tiny_dataroot):
    from models.bevdet_occ.model import BEVDET_OCC_PRESETS, BevDetOccModel
    from models.dataset import OccDataset, load_sample
    from models.evaluate import open_source
    from models.occnet.model import OCCNET_PRESETS, OccNetModel

    source = open_source(tiny_dataroot)
    occnet = OccNetModel(OCCNET_PRESETS["tiny"])
    assert occnet.training_request() == occnet.sensor_request()  # the default: the inference request
    model = BevDetOccModel(BEVDET_OCC_PRESETS["tiny"])
    assert model.sensor_request().lidar_sweeps == 0 and model.training_request().lidar_sweeps == 1
    ds = OccDataset(source, "train", model, max_frames=1)
    sensor, _, seg = load_sample(source, ds.frames[0], model)
    assert sensor.lidar is not None and seg is None  # LiDAR for the depth targets; no lidarseg for a camera model
    inputs, targets = ds.collate([ds[0]])
    assert set(inputs) == {"images", "img_from_ego"}  # encode reads the cameras only
    assert targets["depth"].shape == (1, 6, *model.feature_hw)
    assert int((targets["depth"] != NO_DEPTH).sum()) > 100
