"""sparseocc: the voxel pyramid's index arithmetic, level targets and loss masks, coarse-to-fine pruning
(candidates are exactly the children of the kept voxels), unkept voxels are free, the mask-query class
combination and the bipartite matching on hand-set logits, and sparse camera sampling against BEVFormer's
dense spatial cross-attention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.occnet.bev_encoder import SpatialCrossAttention, project_to_cameras
from models.sparseocc.camera_sampling import SparseCameraSampling
from models.sparseocc.mask_decoder import MaskPrediction, class_scores, combine_semantics
from models.sparseocc.matching import hungarian_match, mask_set_loss
from models.sparseocc.model import (
    SPARSEOCC_PRESETS,
    SparseOccModel,
    any_in_block,
    level_occupancy_loss,
    visible_occupied,
)
from models.sparseocc.net import ImagePyramid
from models.sparseocc.octree import (
    FACE_OFFSETS,
    children,
    keep_top_k,
    level_shapes,
    neighbour_slots,
    ravel,
    voxel_centres_m,
)
from models.sparseocc.voxel_decoder import SparseNeighbourMixing, SparseVoxelDecoder, reference_points_m
from occplan.errors import ValidationError


def ring_cameras(n: int = 6, f_px: float = 60.0, hw: tuple[int, int] = (72, 128)) -> torch.Tensor:
    """(1, n, 3, 4) img_from_ego of n pinhole cameras at the origin looking outwards every 360/n degrees."""
    k = torch.tensor([[f_px, 0, hw[1] / 2], [0, f_px, hw[0] / 2], [0, 0, 1]])
    mats = []
    for i in range(n):
        a = 2 * math.pi * i / n
        rot = torch.tensor([[math.sin(a), -math.cos(a), 0.0], [0.0, 0.0, -1.0], [math.cos(a), math.sin(a), 0.0]])
        mats.append(k @ torch.cat([rot, torch.zeros(3, 1)], 1))
    return torch.stack(mats).unsqueeze(0)


def test_level_shapes_of_the_occ3d_pyramid():
    assert level_shapes((200, 200, 16), 4) == [(25, 25, 2), (50, 50, 4), (100, 100, 8), (200, 200, 16)]
    with pytest.raises(ValidationError, match="divisible by 32"):
        level_shapes((200, 200, 16), 6)


def test_children_are_the_eight_octants_of_the_parent():
    # parent (1, 0, 0) of a 2x2x1 level = index (1*2+0)*1+0 = 2; its children in the 4x4x2 level are
    # x in {2, 3}, y in {0, 1}, z in {0, 1}: indices (x*4+y)*2+z
    assert children(torch.tensor([[2]]), (2, 2, 1)).tolist() == [[16, 17, 18, 19, 24, 25, 26, 27]]
    # two parents: their children are contiguous blocks of 8, parent by parent
    out = children(torch.tensor([[0, 3]]), (2, 2, 1))
    assert out.tolist() == [[0, 1, 2, 3, 8, 9, 10, 11, 20, 21, 22, 23, 28, 29, 30, 31]]


def test_voxel_centres_and_reference_points():
    centres = voxel_centres_m(torch.tensor([0, 1]), (25, 25, 2), (-40.0, -40.0, -1.0), (40.0, 40.0, 5.4))
    np.testing.assert_allclose(centres.numpy(), [[-38.4, -38.4, 0.6], [-38.4, -38.4, 3.8]], atol=1e-5)
    points = reference_points_m(centres[None], torch.tensor([3.2, 3.2, 3.2]), 2)
    np.testing.assert_allclose(points[0, 0].numpy(), [[-38.4, -38.4, -0.2], [-38.4, -38.4, 1.4]], atol=1e-5)


def test_keep_top_k_keeps_the_highest_logits_in_candidate_order():
    kept, slots = keep_top_k(torch.tensor([[10, 11, 12, 13, 14]]), torch.tensor([[0.5, 3.0, -1.0, 2.0, 0.0]]), 3)
    assert kept.tolist() == [[10, 11, 13]] and slots.tolist() == [[0, 1, 3]]
    with pytest.raises(ValidationError, match="cannot keep 6 of 5"):
        keep_top_k(torch.zeros(1, 5, dtype=torch.int64), torch.zeros(1, 5), 6)


def test_keep_top_k_keeps_marked_candidates_first_then_by_logit():
    index, logits = torch.tensor([[10, 11, 12, 13, 14]]), torch.tensor([[0.5, 300.0, -1.0, 2.0, -50.0]])
    first = torch.tensor([[False, False, True, False, True]])
    kept, slots = keep_top_k(index, logits, 3, first)
    assert kept.tolist() == [[11, 12, 14]] and slots.tolist() == [[1, 2, 4]]  # both marked, then the best rest
    kept, _ = keep_top_k(index, logits, 1, first)
    assert kept.tolist() == [[12]]  # more marked than kept: the best marked by logit
    assert keep_top_k(index, logits, 3, torch.zeros(1, 5, dtype=torch.bool))[0].tolist() == [[10, 11, 13]]


def test_gt_guided_training_forward_keeps_every_gt_block_and_inference_does_not_read_targets():
    torch.manual_seed(0)
    model = SparseOccModel(SPARSEOCC_PRESETS["tiny"])
    n, h, w = 6, 144, 256
    batch = {"images": torch.randn(1, n, 3, h, w), "img_from_ego": ring_cameras(n, 120.0, (h, w))}
    sem = torch.full((1, 200, 200, 16), model.labels.free_index, dtype=torch.int64)
    sem[0, 120:150, 90:110, 4:12] = 15  # a wall: 4,800 occupied voxels, 300 blocks of level 2
    sem[0, 60, 100, 2] = 4  # one car voxel
    targets = {"sem": sem, "mask": torch.ones(1, 200, 200, 16, dtype=torch.bool)}
    model.net.train()
    out = model.training_forward(batch, targets)
    for level, lv in enumerate(out["levels"]):
        blocks = visible_occupied(sem, targets["mask"], model.labels.free_index, 2 ** (3 - level)).flatten(1)
        gt = set(blocks[0].nonzero().flatten().tolist())
        assert gt <= set(lv.kept[0].tolist())  # every GT-occupied block survives the pruning
    unguided = SparseOccModel(type(model.config)(**{**model.config.__dict__, "gt_guided": False}))
    unguided.net.load_state_dict(model.net.state_dict())
    unguided.net.train()
    torch.manual_seed(1)
    plain = unguided.training_forward(batch, targets)
    torch.manual_seed(1)
    assert torch.equal(model.forward(batch)["kept"], plain["kept"])  # without guides: the logits alone decide
    finest = visible_occupied(sem, targets["mask"], model.labels.free_index, 1).flatten(1)[0].nonzero().flatten()
    assert not set(finest.tolist()) <= set(plain["kept"][0].tolist())  # the untrained logits alone lose some


def test_next_level_candidates_are_exactly_the_children_of_the_kept_voxels():
    torch.manual_seed(0)
    shapes = level_shapes((8, 8, 4), 3)
    dec = SparseVoxelDecoder(
        shapes,
        (-8.0, -8.0, -1.0),
        (8.0, 8.0, 3.0),
        8,
        (8, 8, 8),
        (3, 10, 20),
        (2, 1, 1),
        2,
        1.0,
        (1, 0, 0),
        (True,) * 3,
    )
    dec.eval()
    feats = [torch.randn(2, 6, 8, 18, 32), torch.randn(2, 6, 8, 9, 16)]
    with torch.no_grad():
        levels = dec(feats, ring_cameras().expand(2, -1, -1, -1), (72, 128))
    assert [lv.candidates.shape[1] for lv in levels] == [4, 24, 80]
    for b in range(2):
        for lv, k in zip(levels, (3, 10, 20)):
            kept, cand, logits = lv.kept[b].tolist(), lv.candidates[b].tolist(), lv.occ_logits[b]
            assert len(kept) == k and set(kept) <= set(cand)
            dropped = [i for i, c in enumerate(cand) if c not in kept]
            kept_slots = [cand.index(c) for c in kept]
            assert logits[kept_slots].min() >= logits[dropped].max()  # the top-k by occupancy logit
        for parent_level in range(2):
            _, py, pz = shapes[parent_level]
            expected = set()
            for index in levels[parent_level].kept[b].tolist():
                x, y, z = index // (py * pz), (index // pz) % py, index % pz
                for dx in (0, 1):
                    for dy in (0, 1):
                        for dz in (0, 1):
                            expected.add(((2 * x + dx) * 2 * py + 2 * y + dy) * 2 * pz + 2 * z + dz)
            cand = levels[parent_level + 1].candidates[b].tolist()
            assert len(cand) == len(expected) and set(cand) == expected


def hand_set_prediction() -> MaskPrediction:
    """3 queries over 3 classes (+ no-object) with the class probabilities below, masks over 4 voxels."""
    probs = torch.tensor(
        [
            [0.6, 0.2, 0.1, 0.1],  # query 0: mostly class 0
            [0.1, 0.1, 0.7, 0.1],  # query 1: mostly class 2
            [0.1, 0.5, 0.1, 0.3],  # query 2: class 1
        ]
    )
    sig = torch.tensor(
        [
            [0.9, 0.1, 0.5, 0.5],
            [0.1, 0.9, 0.5, 0.1],
            [0.1, 0.1, 0.1, 0.9],
        ]
    )
    return MaskPrediction(probs.log()[None], torch.log(sig / (1 - sig))[None])


def test_mask_query_combination_on_hand_set_logits():
    pred = hand_set_prediction()
    # score[c, v] = sum_q p_q(c) * m_q(v), worked by hand:
    expected = [
        [0.54 + 0.01 + 0.01, 0.06 + 0.09 + 0.01, 0.30 + 0.05 + 0.01, 0.30 + 0.01 + 0.09],  # class 0
        [0.18 + 0.01 + 0.05, 0.02 + 0.09 + 0.05, 0.10 + 0.05 + 0.05, 0.10 + 0.01 + 0.45],  # class 1
        [0.09 + 0.07 + 0.01, 0.01 + 0.63 + 0.01, 0.05 + 0.35 + 0.01, 0.05 + 0.07 + 0.09],  # class 2
    ]
    np.testing.assert_allclose(class_scores(pred)[0].numpy(), expected, atol=1e-5)
    # voxel 3: query 0 alone prefers class 0 (0.30), but class 1 wins on the sum (0.56 vs 0.40)
    assert combine_semantics(pred).tolist() == [[0, 2, 2, 1]]


def test_hungarian_matching_and_set_loss_on_hand_set_logits():
    # 3 queries, segments: class 2 on voxels {0, 1}, class 0 on voxels {2, 3}; query 1 predicts the first,
    # query 2 the second exactly; query 0 is poor at both
    big = 20.0
    class_logits = torch.full((1, 3, 4), -big)
    class_logits[0, 0, 3] = big  # query 0: no-object
    class_logits[0, 1, 2] = big
    class_logits[0, 2, 0] = big
    mask_logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [big, big, -big, -big], [-big, -big, big, big]]])
    labels = torch.tensor([[2, 2, 0, 0, 1]])
    valid = torch.tensor([[True, True, True, True, False]])  # voxel 4 carries no loss: class 1 is no segment
    gt_classes = torch.tensor([0, 2])
    gt = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    rows, cols = hungarian_match(class_logits[0], mask_logits[0], gt_classes, gt)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(1, 1), (2, 0)]
    pred = MaskPrediction(class_logits, torch.cat([mask_logits, torch.zeros(1, 3, 1)], dim=2))
    ce, bce, dice = mask_set_loss(pred, labels, valid, no_object_weight=0.1)
    assert float(ce) < 1e-6 and float(bce) < 1e-6 and float(dice) < 1e-6
    # query 0 should be no-object: making it claim class 1 costs exactly its CE, weighted by the no-object weight
    wrong = class_logits.clone()
    wrong[0, 0] = torch.tensor([-big, 0.0, -big, 0.0])  # p(class 1) = p(no-object) = 0.5
    ce_wrong, _, _ = mask_set_loss(MaskPrediction(wrong, pred.mask_logits), labels, valid, 0.1)
    # weighted mean over queries: (0.1 * ln 2 + 1 * 0 + 1 * 0) / (0.1 + 1 + 1)
    assert float(ce_wrong) == pytest.approx(0.1 * math.log(2) / 2.1, rel=1e-4)


def test_voxels_not_kept_are_free_in_the_output():
    model = SparseOccModel(SPARSEOCC_PRESETS["tiny"])
    pred = hand_set_prediction()
    n_cls = model.labels.num_classes
    # lift the 3 hand-set classes to the Occ3D label set: classes 4, 9 and the free class
    class_logits = torch.full((1, 3, n_cls + 1), -30.0)
    for src, dst in ((0, 4), (1, 9), (2, model.labels.free_index), (3, n_cls)):
        class_logits[0, :, dst] = pred.class_logits[0, :, src]
    kept = torch.tensor([[5, 1000, 123_456, 639_999]])
    flow = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]])
    out = {"kept": kept, "masks": [MaskPrediction(class_logits, pred.mask_logits)], "flow": flow}
    occ = model.decode(out, 0)
    sem, fl = occ.semantics.reshape(-1), occ.flow.reshape(-1, 2)
    free = model.labels.free_index
    assert sem[[5, 1000, 123_456, 639_999]].tolist() == [4, free, free, 9]
    others = np.ones(sem.size, bool)
    others[kept[0].numpy()] = False
    assert (sem[others] == free).all() and not fl[others].any()
    np.testing.assert_array_equal(fl[[5, 1000, 123_456, 639_999]], [[1, 2], [0, 0], [0, 0], [7, 8]])


def test_level_targets_are_visible_occupied_blocks():
    sem = torch.full((1, 4, 4, 2), 17)
    mask = torch.ones(1, 4, 4, 2, dtype=torch.bool)
    sem[0, 0, 0, 0] = 3  # visible occupied -> block (0, 0, 0)
    sem[0, 3, 3, 1] = 5
    mask[0, 3, 3, 1] = False  # occupied but not visible -> block (1, 1, 0) stays 0
    target = visible_occupied(sem, mask, 17, 2)
    assert target.shape == (1, 2, 2, 1) and target[0, :, :, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    mask[0, 2:, 2:] = False  # no voxel of block (1, 1, 0) carries loss: its candidate gets no occupancy loss
    assert any_in_block(mask, 2)[0, :, :, 0].tolist() == [[1.0, 1.0], [1.0, 0.0]]


def test_unobserved_candidates_are_negatives_of_their_own_weight():
    sem = torch.full((1, 4, 4, 2), 17)
    mask = torch.zeros(1, 4, 4, 2, dtype=torch.bool)
    sem[0, 0, 0, 0], mask[0, 0, 0, 0] = 3, True  # block 0 (of 2x2x1 blocks): observed occupied
    mask[0, 2, 0, 0] = True  # block 2: observed free; blocks 1 and 3: nothing observed
    candidates, logits = torch.tensor([[0, 1, 2, 3]]), torch.tensor([[2.0, 3.0, -1.0, 0.0]])
    bce = [math.log1p(math.exp(-2.0)), math.log1p(math.exp(3.0)), math.log1p(math.exp(-1.0)), math.log(2.0)]
    for w in (0.0, 0.5, 1.0):
        expected = (bce[0] + bce[2] + w * (bce[1] + bce[3])) / (2 + 2 * w)
        got = level_occupancy_loss(logits, candidates, sem, mask, 17, 2, w)
        assert float(got) == pytest.approx(expected, rel=1e-6)


def test_sparse_camera_sampling_equals_dense_spatial_cross_attention():
    torch.manual_seed(0)
    dense = SpatialCrossAttention(16, 2, 3, 2.0)
    for p in dense.parameters():
        torch.nn.init.normal_(p, std=0.5)  # offsets reach outside the images too
    sparse = SparseCameraSampling(16, 2, 3, 2.0)
    sparse.load_state_dict(dense.state_dict())
    points = torch.randn(1, 300, 2, 3) * 10
    cams, feats, query = ring_cameras(), torch.randn(1, 6, 16, 9, 16), torch.randn(1, 300, 16)
    ref, valid = project_to_cameras(points[0], cams, (72, 128))
    assert 0 < valid.any(-1).sum() < valid.any(-1).numel()  # some voxels seen, some not
    expected = dense(query, ref, valid, feats)
    np.testing.assert_allclose(sparse(query, points, cams, (72, 128), feats).detach(), expected.detach(), atol=1e-4)


def test_config_checks_and_kept_shares():
    model = SparseOccModel(SPARSEOCC_PRESETS["tiny"])
    assert model.kept_shares() == [800 / 1250, 3000 / 10_000, 6000 / 80_000, 28_000 / 640_000]
    cfg = SPARSEOCC_PRESETS["tiny"]
    with pytest.raises(ValidationError, match=r"keep\[1\] = 5000 must be in 1..4800"):
        SparseOccModel(type(cfg)(**{**cfg.__dict__, "keep": (600, 5000, 5000, 14000)}))
    with pytest.raises(ValidationError, match=r"mix \(True, False\) needs 4 entries"):
        SparseOccModel(type(cfg)(**{**cfg.__dict__, "mix": (True, False)}))
    with pytest.raises(ValidationError, match=r"feature_map \(1, 1, 2, 0\) entries must be 0 \(fine\) or 1"):
        SparseOccModel(type(cfg)(**{**cfg.__dict__, "feature_map": (1, 1, 2, 0)}))
    with pytest.raises(ValidationError, match=r"num_ref \(0, 2, 1, 0\) must be >= 0, and >= 1 at level 0"):
        SparseOccModel(type(cfg)(**{**cfg.__dict__, "num_ref": (0, 2, 1, 0)}))
    with pytest.raises(ValidationError, match="num_queries 10 < 18 classes"):
        SparseOccModel(type(cfg)(**{**cfg.__dict__, "num_queries": 10}))


def test_a_level_with_no_reference_points_samples_no_image():
    from models.sparseocc.voxel_decoder import VoxelLayer

    torch.manual_seed(0)
    layer = VoxelLayer(8, 16, 0, 2, 1.0, mix=False).eval()
    assert not hasattr(layer, "sca") and not hasattr(layer, "img_proj")
    query, centres = torch.randn(1, 50, 8), torch.randn(1, 50, 3) * 10
    args = (centres, centres / 20 + 0.5, torch.tensor([0.4, 0.4, 0.4]), None)
    a = layer(query, *args, torch.randn(1, 6, 16, 9, 16), ring_cameras(), (72, 128))
    b = layer(query, *args, torch.zeros(1, 6, 16, 9, 16), ring_cameras(), (72, 128))
    assert torch.equal(a, b)  # the images do not enter
    expected = layer.norm2(layer.norm1(query + layer.pos(args[1])) + layer.ffn(layer.norm1(query + layer.pos(args[1]))))
    torch.testing.assert_close(a, expected)


def test_neighbour_slots_find_listed_face_neighbours_only():
    shape = (3, 3, 2)
    # listed voxels (x, y, z): (1, 1, 0), (1, 1, 1), (0, 1, 0), (2, 2, 0); batch 2 lists only (1, 1, 0)
    coords = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 1, 0], [2, 2, 0]])
    index = torch.stack(
        [ravel(coords, shape), ravel(torch.tensor([[1, 1, 0], [0, 0, 0], [2, 0, 1], [0, 2, 1]]), shape)]
    )
    slots = neighbour_slots(index, shape, FACE_OFFSETS)
    absent = 8  # B * M
    # FACE_OFFSETS order: self, -x, +x, -y, +y, -z, +z
    assert slots[0, 0].tolist() == [0, 2, absent, absent, absent, absent, 1]
    assert slots[0, 1].tolist() == [1, absent, absent, absent, absent, 0, absent]
    assert slots[0, 2].tolist() == [2, absent, 0, absent, absent, absent, absent]  # -x of x = 0 is outside
    assert slots[0, 3].tolist() == [3] + [absent] * 6
    # the second sample's voxel (1, 1, 0) does not see the first sample's neighbours
    assert slots[1, 0].tolist() == [4] + [absent] * 6


def test_sparse_neighbour_mixing_is_a_submanifold_depthwise_convolution():
    torch.manual_seed(0)
    shape, c = (4, 5, 3), 6
    mix = SparseNeighbourMixing(c)
    kernel = torch.zeros(c, 1, 3, 3, 3)
    for k, (dx, dy, dz) in enumerate(FACE_OFFSETS.tolist()):
        kernel[:, 0, dx + 1, dy + 1, dz + 1] = mix.depthwise[k]
    listed = torch.tensor([[0, 3, 4, 7, 8, 9, 20, 21, 30, 44, 45, 59]])  # a sparse set of voxels
    x = torch.randn(1, listed.shape[1], c)
    dense = torch.zeros(1, c, 4 * 5 * 3)
    dense[0, :, listed[0]] = x[0].T  # voxels that are not listed are zeros
    conv = torch.nn.functional.conv3d(dense.view(1, c, *shape), kernel, mix.bias, padding=1, groups=c)
    expected = mix.pointwise(torch.relu(conv.flatten(2)[0, :, listed[0]].T))
    got = mix(x, neighbour_slots(listed, shape, FACE_OFFSETS))
    np.testing.assert_allclose(got[0].detach(), expected.detach(), atol=1e-5)


def test_image_pyramid_gives_the_fine_map_at_half_the_backbone_stride():
    pyramid = ImagePyramid((8, 16, 32), (1, 1, 1), 12).eval()
    with torch.no_grad():
        fine, coarse = pyramid(torch.randn(2, 3, 64, 96))
    assert fine.shape == (2, 12, 16, 24) and coarse.shape == (2, 12, 8, 12)
