"""ALOcc parts (models.alocc): occlusion-aware soft filling and the adaptive lifting, the semantic-prototype head
and its category-aware sampling, the flow head, and the 2D prototype targets; expectations derived by hand."""

from __future__ import annotations

import math

import numpy as np
import torch

from models.alocc.flow_head import FlowHead, flow_bin_loss, two_hot
from models.alocc.image_labels import first_hit_labels
from models.alocc.lifting import AdaptiveLSSViewTransformer
from models.alocc.net import upsample2
from models.alocc.prototypes import PrototypeHead, category_aware_sample
from models.alocc.soft_filling import OcclusionSoftFill, soft_fill
from models.losses import IGNORE
from models.lss.geometry import DepthBins
from models.lss.pool import PoolGrid
from models.lss.view_transformer import LSSViewTransformer
from occplan.types import GridSpec, Pose

# camera axes (x right, y down, z forward) -> ego (x forward, y left, z up); camera 1.5 m ahead, 1.5 m up
CAM_TO_EGO_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAM_POS_M = np.array([1.5, 0.0, 1.5])


def img_from_ego(k: np.ndarray) -> np.ndarray:
    """(3, 4) projection of a camera at CAM_POS_M looking along ego x with intrinsics ``k``."""
    return k @ Pose(CAM_TO_EGO_AXES, CAM_POS_M).inverse().matrix[:3]


# --- soft filling -------------------------------------------------------------------------------


def test_soft_fill_of_a_surface_decays_behind_it_and_adds_nothing_in_front():
    z = torch.arange(1.0, 11.0)  # bins at 1..10 m
    p = torch.zeros(1, 10, 1, 1)
    p[0, 3] = 1.0  # surface at 4 m
    w = soft_fill(p, z, torch.tensor(2.0), torch.tensor(0.5))[0, :, 0, 0]
    expected = [0, 0, 0, 1.0] + [0.5 * math.exp(-(d - 4.0) / 2.0) for d in range(5, 11)]  # 0.30327, 0.18394, ...
    np.testing.assert_allclose(w.numpy(), expected, atol=1e-6)
    assert abs(float(w[4]) - 0.303265) < 1e-5 and abs(float(w[5]) - 0.183940) < 1e-5


def test_soft_fill_sums_the_shares_of_every_surface_in_front_on_uneven_bins():
    z = torch.tensor([1.0, 2.0, 3.5, 5.0])
    p = torch.tensor([0.0, 0.6, 0.4, 0.0]).view(1, 4, 1, 1)
    w = soft_fill(p, z, torch.tensor(1.5), torch.tensor(0.25))[0, :, 0, 0]
    # bin 2: 0.4 + 0.25 * 0.6 * e^-1; bin 3: 0.25 * (0.6 e^-2 + 0.4 e^-1)
    np.testing.assert_allclose(w.numpy(), [0.0, 0.6, 0.455182, 0.057088], atol=1e-5)


def test_soft_fill_agrees_with_a_plain_loop_per_pixel():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2, 7, 3, 4, generator=g).softmax(1)
    z = torch.sort(torch.rand(7, generator=g) * 40 + 1).values
    decay = torch.rand(2, 1, 3, 4, generator=g) * 3 + 0.2
    share = torch.rand(2, 1, 3, 4, generator=g)
    w = soft_fill(p, z, decay, share)
    ref = p.clone()
    for m in range(2):
        for r in range(3):
            for c in range(4):
                for d in range(7):
                    for e in range(d):
                        ref[m, d, r, c] += (
                            share[m, 0, r, c] * p[m, e, r, c] * torch.exp(-(z[d] - z[e]) / decay[m, 0, r, c])
                        )
    torch.testing.assert_close(w, ref, atol=1e-5, rtol=1e-5)


def _one_ray_transformer(cls, share: float):
    """A lifting with one feature cell (its ray = the optical axis along ego x), depth bins every 1 m from 1 m,
    pooling cells 1 m long in x, a depth net whose softmax puts all mass on bin 9 (10.5 m) and whose context is 1."""
    bins = DepthBins(1.0, 45.0, 1.0)
    grid = PoolGrid((0.0, -1.0, 0.0), (48.0, 1.0, 3.0), (48, 1, 1))
    t = cls(2, 1, bins, grid, 8)
    with torch.no_grad():
        last = t.depth_net[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[9] = 30.0
        last.bias[bins.num] = 1.0
    if cls is AdaptiveLSSViewTransformer:
        t.soft_fill = OcclusionSoftFill(2, init_decay_m=2.0, init_share=share)
    return t.eval()


def test_adaptive_lifting_fills_the_voxels_behind_the_surface():
    t = _one_ray_transformer(AdaptiveLSSViewTransformer, 0.5)
    k = np.array([[100.0, 0.0, 4.0], [0.0, 100.0, 4.0], [0.0, 0.0, 1.0]])  # an 8 x 8 image, one stride-8 cell
    proj = torch.from_numpy(img_from_ego(k)).float().view(1, 1, 3, 4)
    with torch.no_grad():
        volume, depth_logits, context = t(torch.randn(1, 1, 2, 1, 1), proj)
    assert (
        volume.shape == (1, 1, 48, 1, 1) and depth_logits.shape == (1, 1, 44, 1, 1) and context.shape == (1, 1, 1, 1, 1)
    )
    cells = volume[0, 0, :, 0, 0].numpy()
    # bin d (centre d + 1.5 m) lies at ego x = 1.5 + d + 1.5 -> cell d + 3; the surface (bin 9) is cell 12
    np.testing.assert_allclose(cells[:12], 0.0, atol=1e-6)  # in front of the surface: nothing
    assert abs(cells[12] - 1.0) < 1e-6
    np.testing.assert_allclose(cells[13:47], [0.5 * math.exp(-(j + 1) / 2.0) for j in range(34)], atol=1e-6)


def test_adaptive_lifting_without_share_is_plain_lss():
    torch.manual_seed(0)
    adaptive = AdaptiveLSSViewTransformer(
        8, 4, DepthBins(1.0, 45.0, 1.0), PoolGrid((-40, -40, -1), (40, 40, 5.4), (20, 20, 4)), 8
    )
    plain = LSSViewTransformer(8, 4, DepthBins(1.0, 45.0, 1.0), PoolGrid((-40, -40, -1), (40, 40, 5.4), (20, 20, 4)), 8)
    plain.load_state_dict({k: v for k, v in adaptive.state_dict().items() if not k.startswith("soft_fill")})
    with torch.no_grad():
        adaptive.soft_fill.params.bias[1] = -60.0  # share = sigmoid(-60) ~ 0
    k = np.array([[100.0, 0.0, 84.0], [0.0, 100.0, 44.0], [0.0, 0.0, 1.0]])
    proj = torch.from_numpy(img_from_ego(k)).float().view(1, 1, 3, 4)
    feats = torch.randn(1, 1, 8, 11, 20)
    adaptive.eval(), plain.eval()
    with torch.no_grad():
        va, da, _ = adaptive(feats, proj)
        vp, dp = plain(feats, proj)
    torch.testing.assert_close(da, dp)
    torch.testing.assert_close(va, vp, atol=1e-5, rtol=1e-5)
    assert float(vp.abs().sum()) > 0


# --- prototype head -----------------------------------------------------------------------------


def test_prototype_logits_are_the_scaled_cosine_to_hand_set_prototypes():
    head = PrototypeHead(pixel_channels=2, embed_dim=2, num_classes=3)
    with torch.no_grad():
        head.prototypes.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
        head.log_scale.fill_(math.log(10.0))
        head.pixel_proj.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        head.pixel_proj.bias.zero_()
        voxel = head.voxel_logits(torch.tensor([3.0, 4.0]).view(1, 2, 1, 1, 1))
        pixel = head.pixel_logits(torch.tensor([0.0, -1.0]).view(1, 2, 1, 1))
    # (3, 4) / 5 = (0.6, 0.8): cosines 0.6, 0.8, 1.4 / sqrt(2)
    np.testing.assert_allclose(voxel.flatten().numpy(), [6.0, 8.0, 9.899495], atol=1e-5)
    np.testing.assert_allclose(pixel.flatten().numpy(), [0.0, -10.0, -7.071068], atol=1e-5)
    assert voxel.shape == (1, 3, 1, 1, 1) and pixel.shape == (1, 3, 1, 1)
    with torch.no_grad():
        head.class_offset.copy_(torch.tensor([0.0, -0.05, 0.025]))  # x gain 10: -0.5, 0.25 cosine -> -5, +2.5
        shifted = head.voxel_logits(torch.tensor([3.0, 4.0]).view(1, 2, 1, 1, 1))
    np.testing.assert_allclose(shifted.flatten().numpy(), [6.0, 3.0, 12.399495], atol=1e-5)


def test_category_aware_sample_takes_the_least_confident_voxels_of_every_class():
    target = torch.tensor([0, 1, 0, 1, 1, 2, 255, 0])
    confidence = torch.tensor([0.9, 0.1, 0.2, 0.5, 0.3, 0.7, 0.0, 0.2])
    # class 0: indices 2 and 7 (0.2 tie in flat order) before 0 (0.9); class 1: 1 (0.1), 4 (0.3); class 2: 5
    assert category_aware_sample(target, confidence, 2, 255).tolist() == [2, 7, 1, 4, 5]
    assert category_aware_sample(target, confidence, 5, 255).tolist() == [2, 7, 0, 1, 4, 3, 5]
    assert category_aware_sample(torch.full((3,), 255), torch.zeros(3), 2, 255).tolist() == []


# --- flow head ----------------------------------------------------------------------------------


def test_two_hot_interpolates_between_the_nearest_bins_and_clips():
    centres = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    got = two_hot(torch.tensor([3.0, 10.0, -4.0, 0.5]), centres)
    expected = [[0, 0, 0, 0.5, 0.5], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0.75, 0.25, 0]]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose((got * centres).sum(-1).numpy(), [3.0, 4.0, -4.0, 0.5], atol=1e-6)


def _hand_set_flow_head() -> FlowHead:
    """Bins at -4, -2, 0, 2, 4 m/s; x: bins 2 and 4 m/s equally likely, residual +0.25; y: uniform, residual -0.5."""
    head = FlowHead(1, num_bins=5, max_mps=4.0)
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.copy_(torch.tensor([-30.0, -30.0, -30.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5]))
    return head


def test_flow_head_output_shape_and_components():
    out = _hand_set_flow_head()(torch.randn(1, 1, 2, 3, 4))
    assert out["flow"].shape == (1, 2, 2, 3, 4) and out["bin_logits"].shape == (1, 2, 5, 2, 3, 4)
    np.testing.assert_allclose(out["flow"][:, 0].detach().numpy(), 3.25, atol=1e-5)  # ego x: 0.5*2 + 0.5*4 + 0.25
    np.testing.assert_allclose(out["flow"][:, 1].detach().numpy(), -0.5, atol=1e-5)  # ego y: 0 - 0.5


def test_flow_bin_loss_reads_the_coarse_voxel_of_each_gt_voxel():
    logits = _hand_set_flow_head()(torch.zeros(1, 1, 1, 1, 1))["bin_logits"]  # one coarse voxel
    gt = torch.zeros(1, 2, 2, 2, 2)
    gt[:, 0] = 3.0
    mask = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    mask[0, 1, 0, 1] = True
    # x: two-hot (0.5, 0.5) on bins of probability 0.5 each -> ln 2; y: one-hot at 0 m/s of a uniform 5 -> ln 5
    loss = flow_bin_loss(logits, gt, mask, torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0]))
    assert abs(float(loss.detach()) - (math.log(2) + math.log(5)) / 2) < 1e-5
    assert float(flow_bin_loss(logits, gt, torch.zeros_like(mask), torch.linspace(-4, 4, 5)).detach()) == 0.0


def test_upsample2_copies_every_voxel_to_its_children():
    x = torch.arange(2 * 2 * 3 * 2, dtype=torch.float32).view(1, 2, 2, 3, 2)
    up = upsample2(x)
    assert up.shape == (1, 2, 4, 6, 4)
    for i, j, k, a, b, c in np.ndindex(2, 3, 2, 2, 2, 2):
        torch.testing.assert_close(up[0, :, 2 * i + a, 2 * j + b, 2 * k + c], x[0, :, i, j, k])


# --- 2D prototype targets -----------------------------------------------------------------------


def test_first_hit_labels_give_the_nearest_occupied_voxel_on_each_ray():
    grid = GridSpec("t", (0.0, -4.5, 0.0), 1.0, (40, 8, 4), "ego")
    free = 17
    sem = np.full(grid.shape, free, dtype=np.uint8)
    sem[12, 4, 1] = 4  # on the optical axis (y 0, z 1.5) at x 12..13 m
    sem[20, 4, 1] = 9  # behind it on the same ray
    k = np.array([[100.0, 0.0, 84.0], [0.0, 100.0, 44.0], [0.0, 0.0, 1.0]])  # optical axis = centre of cell (5, 10)
    proj = torch.from_numpy(img_from_ego(k)).float()[None]
    bins = DepthBins(1.0, 45.0, 0.5)
    labels = first_hit_labels(sem, grid, free, proj, (11, 20), 8, bins)
    assert labels.shape == (1, 11, 20) and labels.dtype == np.int64
    assert labels[0, 5, 10] == 4
    assert np.count_nonzero(labels != IGNORE) == 1  # every other ray leaves the grid without a hit
    sem[12, 4, 1] = free
    assert first_hit_labels(sem, grid, free, proj, (11, 20), 8, bins)[0, 5, 10] == 9
