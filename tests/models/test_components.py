"""Voxeliser, losses, target pooling and camera projection: golden values and reference paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.lidar.voxelize import voxelize
from models.losses import IGNORE, class_weights_from_counts, lovasz_softmax, semantic_loss
from models.occnet.bev_encoder import pillar_reference_points, project_to_cameras
from models.targets import pool_targets
from occplan.types import GridSpec


def test_voxelize_matches_a_plain_loop():
    grid = GridSpec("t", (-2.0, -2.0, -1.0), 0.5, (8, 8, 4), "ego")
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-2.5, 2.5, (400, 3)), rng.uniform(0, 255, 400), np.zeros(400)]).astype(
        np.float32
    )
    lag = rng.choice([0.0, 0.05], 400).astype(np.float32)
    vox = voxelize(pts, lag, grid)
    idx = np.floor((pts[:, :3].astype(np.float64) - (-2.0, -2.0, -1.0)) / 0.5).astype(int)
    for v, c in enumerate(vox.coords):
        members = [i for i in range(400) if tuple(idx[i]) == tuple(c)]
        assert sorted(np.flatnonzero(vox.point_voxel == v)) == members
        centre = np.array([-2.0, -2.0, -1.0]) + (c + 0.5) * 0.5
        np.testing.assert_allclose(vox.features[v, :3], ((pts[members, :3] - centre) / 0.5).mean(0), atol=1e-5)
        np.testing.assert_allclose(vox.features[v, 3], pts[members, 3].mean() / 255, atol=1e-5)
        np.testing.assert_allclose(vox.features[v, 4], lag[members].mean(), atol=1e-6)
        np.testing.assert_allclose(vox.features[v, 5], np.log1p(len(members)), atol=1e-5)
    outside = ~np.all((idx >= 0) & (idx < (8, 8, 4)), axis=1)
    assert np.array_equal(vox.point_voxel == -1, outside)
    assert len(vox.point_features) == 400


def _lovasz_reference(probs: np.ndarray, labels: np.ndarray) -> float:
    """Berman et al.'s per-class loop (lovasz_softmax_flat, classes='present')."""
    losses = []
    for c in range(probs.shape[1]):
        fg = (labels == c).astype(float)
        if fg.sum() == 0:
            continue
        err = np.abs(fg - probs[:, c])
        order = np.argsort(-err, kind="stable")
        fg_sorted = fg[order]
        inter = fg_sorted.sum() - np.cumsum(fg_sorted)
        union = fg_sorted.sum() + np.cumsum(1 - fg_sorted)
        jac = 1 - inter / union
        jac[1:] = jac[1:] - jac[:-1]
        losses.append(float(np.dot(err[order], jac)))
    return float(np.mean(losses))


def test_lovasz_softmax_matches_reference_and_is_zero_when_perfect():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 5))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, 300)  # class 4 absent
    got = float(lovasz_softmax(torch.from_numpy(probs), torch.from_numpy(labels)))
    assert got == pytest.approx(_lovasz_reference(probs, labels), rel=1e-9)
    perfect = torch.nn.functional.one_hot(torch.from_numpy(labels), 5).double()
    assert float(lovasz_softmax(perfect, torch.from_numpy(labels))) == pytest.approx(0.0, abs=1e-12)


def test_semantic_loss_all_ignored_is_zero_with_gradient():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    ce, lov = semantic_loss(logits, torch.full((2, 4), IGNORE), torch.ones(3), 1.0)
    assert float(ce.detach()) == 0.0 and float(lov.detach()) == 0.0
    (ce + lov).backward()
    assert logits.grad is not None


def test_class_weights_favour_rare_classes():
    w = class_weights_from_counts(np.array([1000, 10, 0]))
    assert w[1] > w[0] and w[2] == 1.0
    assert np.mean(w[:2]) == pytest.approx(1.0)


def test_pool_targets_golden():
    free, k = 3, 4
    sem = torch.full((1, 2, 2, 2), free)
    sem[0, 0, 0, 0] = 1
    sem[0, 1, 1, 1] = 1
    sem[0, 0, 1, 0] = 2
    flow = torch.zeros(1, 2, 2, 2, 2)
    flow[0, 0, 0, 0, 0] = 2.0  # x flow of the first class-1 voxel
    flow[0, 0, 0, 1, 0] = 4.0  # class 2 voxel
    mask = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    mask[0, 1, 0, 0] = True
    lab, fl, m = pool_targets(sem, flow, mask, 2, k, free)
    assert lab.tolist() == [[[[1]]]]
    assert fl[0, :, 0, 0, 0].tolist() == pytest.approx([2.0, 0.0])  # (2 + 4 + 0) / 3 occupied voxels
    assert m.tolist() == [[[[True]]]]
    empty = torch.full((1, 2, 2, 2), free)
    assert pool_targets(empty, flow, mask, 2, k, free)[0].item() == free


def test_projection_of_a_point_ahead_of_a_forward_camera():
    # camera at the ego origin looking along +x: cam x = -ego y, cam y = -ego z, cam z = ego x
    cam_from_ego = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]], dtype=np.float64)
    k = np.array([[50.0, 0, 31.5], [0, 50.0, 15.5], [0, 0, 1]])
    proj = torch.from_numpy((k @ cam_from_ego)[None, None]).float()
    pts = torch.tensor([[[10.0, 0.0, 0.0]], [[-10.0, 0.0, 0.0]], [[10.0, 2.0, 1.0]]])
    norm, valid = project_to_cameras(pts, proj, (32, 64))
    assert valid[0, 0, :, 0].tolist() == [True, False, True]
    assert norm[0, 0, 0, 0].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)  # principal point = image centre
    u = 31.5 + 50 * (-2.0 / 10)
    assert float(norm[0, 0, 2, 0, 0]) == pytest.approx((u + 0.5) / 64 * 2 - 1, abs=1e-6)


def test_pillar_reference_points_cover_the_range():
    ref = pillar_reference_points((4, 2), (-40.0, -40.0, -1.0), (40.0, 40.0, 5.4), 2)
    assert ref.shape == (8, 2, 3)
    assert ref[0, 0].tolist() == pytest.approx([-30.0, -20.0, 0.6])
    assert ref[-1, -1].tolist() == pytest.approx([30.0, 20.0, 3.8])


def test_fused_finest_stage_equals_the_module_path():
    """Eval mode: the finest decoder stage as two matrix products (batch norm folded) gives the transposed
    convolution + batch norm + ReLU + 1x1 head's logits, in the (B, K, X, Y, Z) layout, for a batch of 2 with
    non-trivial batch-norm statistics; the eval-mode decoder takes that path for its finest stage."""
    from models.occnet.decoder import CascadeVoxelDecoder, fused_upsample_head

    torch.manual_seed(0)
    dec = CascadeVoxelDecoder(8, (6, 5, 4), 2, 7)
    for bn in (m for m in dec.modules() if isinstance(m, torch.nn.BatchNorm3d)):
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 1.5)
    dec.eval()
    x = torch.randn(2, 5, 6, 4, 3)
    with torch.no_grad():
        fused = fused_upsample_head(x, dec.ups[1], dec.heads[2])
        plain = dec.heads[2](dec.ups[1](x))
        assert fused.shape == plain.shape == (2, 9, 12, 8, 6) and fused.is_contiguous()
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
        bev = torch.randn(2, 8, 3, 2)
        sem, flow = dec(bev)[-1]
        dec.train()
        plain_sem, plain_flow = dec(bev)[-1]  # module path (batch statistics: only the shapes compare)
        assert sem.shape == plain_sem.shape == (2, 7, 12, 8, 8) and flow.shape == plain_flow.shape == (2, 2, 12, 8, 8)
