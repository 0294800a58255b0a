"""conet: adaptive fusion weights, the cascade (refines exactly the fine voxels under coarse voxels predicted
occupied, the rest keep the coarse prediction), its reported refined share, point sampling of both branches,
presets' inputs, branch initialisation, an overfit step and a checkpoint round trip."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import synthetic_scene as synth
import torch

import models
from models.checkpoint import save_checkpoint
from models.conet.cascade import CascadeRefiner, FineGrid, sample_cameras, sample_volume, upsample
from models.conet.fusion import AdaptiveFusion
from models.conet.init_branches import init_branches
from models.conet.model import CONET_PRESETS, CONetModel
from models.torch_base import shipped_weights
from occplan.errors import DataError, ValidationError
from occplan.types import CAMERA_CHANNELS


def test_adaptive_fusion_mixes_by_the_sigmoid_weight():
    """With the weight net's last conv at weight 0 and bias ln 3, every voxel's weight is sigmoid(ln 3) = 3/4:
    fused = 3/4 camera + 1/4 LiDAR; with bias 0 it is the mean."""
    fusion = AdaptiveFusion(2).eval()
    cam, lidar = torch.rand(1, 2, 3, 3, 2), torch.rand(1, 2, 3, 3, 2)
    with torch.no_grad():
        fusion.weight_net[-1].weight.zero_()
        fusion.weight_net[-1].bias.fill_(math.log(3.0))
        fused, w = fusion(cam, lidar)
        assert w.shape == (1, 1, 3, 3, 2)
        torch.testing.assert_close(w, torch.full_like(w, 0.75))
        torch.testing.assert_close(fused, 0.75 * cam + 0.25 * lidar)
        fusion.weight_net[-1].bias.zero_()
        torch.testing.assert_close(fusion(cam, lidar)[0], (cam + lidar) / 2)


def _refiner(lidar_channels: int = 2) -> CascadeRefiner:
    """Fine grid 8x8x4 of 0.5 m voxels from (-2, -2, -1), coarse 4x4x2, 3 classes (free = 2), fused width 4."""
    return CascadeRefiner(FineGrid((-2.0, -2.0, -1.0), 0.5, (8, 8, 4)), 2, 4, lidar_channels, 0, 8, 3, 2)


def _coarse_with_two_occupied() -> torch.Tensor:
    """(1, 3 + 2, 4, 4, 2) coarse logits + flow: free everywhere but (0, 0, 0) (class 0) and (3, 1, 1) (class 1)."""
    coarse = torch.zeros(1, 5, 4, 4, 2)
    coarse[0, 2] = 1.0
    coarse[0, 0, 0, 0, 0] = 2.0
    coarse[0, 1, 3, 1, 1] = 2.0
    coarse[0, 3:] = torch.rand(2, 4, 4, 2)
    return coarse


def test_cascade_refines_exactly_the_children_of_coarse_voxels_predicted_occupied():
    torch.manual_seed(0)
    refiner = _refiner()
    coarse = _coarse_with_two_occupied()
    fused, lidar = torch.rand(1, 4, 4, 4, 2), torch.rand(1, 2, 8, 8, 4)
    with torch.no_grad():
        untrained = refiner(coarse, fused, lidar, None, None, (0, 0))
        torch.testing.assert_close(untrained["sem_logits"], upsample(coarse, 2)[:, :3])  # zero-initialised residual
        for p in refiner.mlp[-1].parameters():
            p.normal_()
        out = refiner(coarse, fused, lidar, None, None, (0, 0))
    expected = torch.zeros(8, 8, 4, dtype=torch.bool)
    expected[0:2, 0:2, 0:2] = True  # the 8 children of (0, 0, 0)
    expected[6:8, 2:4, 2:4] = True  # the 8 children of (3, 1, 1)
    full = torch.cat([out["sem_logits"], out["flow"]], 1)[0]
    changed = (full != upsample(coarse, 2)[0]).any(0)
    assert torch.equal(changed, expected)
    assert int(out["refined"][0]) == 16 and int(out["coarse_occupied"][0]) == 2


def test_refined_voxels_see_their_own_lidar_feature():
    """Only the LiDAR feature varies between two runs (the first hidden unit reads it alone, the MLP outputs the
    unit): each refined voxel's logit moves by exactly the change of its own fine LiDAR feature."""
    refiner = _refiner(lidar_channels=1)
    coarse, fused = _coarse_with_two_occupied(), torch.rand(1, 4, 4, 4, 2)
    lidar = torch.rand(1, 1, 8, 8, 4)
    with torch.no_grad():
        for p in refiner.mlp.parameters():
            p.zero_()
        refiner.mlp[0].weight[0, 4] = 1.0  # inputs: fused (4), LiDAR (1), offset (3)
        refiner.mlp[2].weight[0, 0] = 1.0
        refiner.mlp[4].weight[0, 0] = 1.0
        a = refiner(coarse, fused, lidar, None, None, (0, 0))["sem_logits"][0, 0]
        b = refiner(coarse, fused, lidar + 1.0, None, None, (0, 0))["sem_logits"][0, 0]
    expected = torch.zeros(8, 8, 4)
    expected[0:2, 0:2, 0:2] = expected[6:8, 2:4, 2:4] = 1.0  # refined: +1; under free coarse voxels: unchanged
    torch.testing.assert_close(b - a, expected)


def test_fine_centres_sample_the_coarse_volume_trilinearly():
    """A coarse volume equal to its x index, sampled at fine voxel i (factor 2): coarse coordinate
    (i + 0.5) / 2 - 0.5 = i / 2 - 0.25, clamped to [0, 3] at the border."""
    volume = torch.arange(4.0).view(1, 4, 1, 1).expand(1, 4, 4, 2).contiguous()
    index = torch.tensor([[i, 3, 1] for i in range(8)])
    got = sample_volume(volume, index, (8, 8, 4))[:, 0]
    torch.testing.assert_close(got, torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]))


def test_camera_features_are_averaged_over_the_cameras_that_see_the_point():
    """Cameras 0 and 1 look along ego +x, camera 2 along -x (focal 8 px, 16x16 image, constant features 3, 5, 7):
    (5, 0, 0) is seen by 0 and 1 -> 4; (-5, 0, 0) by 2 -> 7; (0, 5, 0) by none -> 0."""
    k = np.array([[8.0, 0, 8], [0, 8.0, 8], [0, 0, 1]])
    forward = np.array([[0.0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]])  # camera (x right, y down, z ahead)
    backward = np.array([[0.0, 1, 0, 0], [0, 0, -1, 0], [-1, 0, 0, 0]])
    img_from_ego = torch.tensor(np.stack([k @ forward, k @ forward, k @ backward]), dtype=torch.float32)
    feats = torch.tensor([3.0, 5.0, 7.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2).contiguous()
    points = torch.tensor([[5.0, 0.0, 0.0], [-5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    got = sample_cameras(feats, points, img_from_ego, (16, 16))[:, 0]
    torch.testing.assert_close(got, torch.tensor([4.0, 7.0, 0.0]))


def test_model_reports_the_refined_share_of_the_grid():
    """Coarse heights 0-3 forced free: the cascade refines 8 fine voxels per coarse voxel predicted occupied among
    heights 4-7, and reports that count over the 640,000 voxels of the Occ3D grid; the others keep the upsampled
    coarse prediction (the base of a camera-only preset)."""
    torch.manual_seed(0)
    model = models.create("conet", config="tiny_camera", weights="random")
    k = model.labels.num_classes
    with torch.no_grad():
        bias = model.net.coarse_head.out.bias.view(8, k + 2)
        bias[:4, model.labels.free_index] = 1e3
        bias[4:, model.labels.free_index] = 0.0
        out = model.forward(model.collate([model.encode(synth.sensor_frame(seed=1))]))
    occupied = out["coarse_sem_logits"][0].argmax(0) != model.labels.free_index
    assert not occupied[:, :, :4].any()
    stats = model.cascade_stats(out, 0)
    assert stats.coarse_occupied == int(occupied.sum()) > 0
    assert stats.refined_voxels == 8 * int(occupied.sum())
    assert stats.full_voxels == 200 * 200 * 16 and stats.saved_voxels == 640_000 - stats.refined_voxels
    assert stats.refined_share == pytest.approx(8 * int(occupied.sum()) / 640_000) and stats.refined_share <= 0.5
    refined = upsample(occupied[None, None].float(), 2)[0, 0] > 0
    coarse_up = upsample(out["coarse_sem_logits"], 2)[0]
    torch.testing.assert_close(out["sem_logits"][0][:, ~refined], coarse_up[:, ~refined])


def test_lidar_presets_refine_the_lidar_models_prediction(tmp_path):
    """The fine base of a LiDAR preset is the ``lidar`` model's BEV completion over the same U-Net: a conet whose
    LiDAR branch and fine head come from the shipped lidar checkpoint and whose cascade output is zero predicts
    exactly what the lidar model predicts. ``--rest`` takes every other tensor from a conet checkpoint and
    restarts the cascade's output layer at zero; a checkpoint of another preset is refused."""
    torch.manual_seed(3)
    donor = models.create("conet", config="tiny_lidar", weights="random")
    for p in donor.net.parameters():
        p.data.normal_()
    rest = save_checkpoint(tmp_path / "donor", donor.net, donor.meta())
    model = models.create("conet", config="tiny_lidar", weights="random")
    record = init_branches(model, shipped_weights("lidar", "tiny"), None, rest, "tiny_lidar")
    assert set(record) == {"rest", "lidar"}
    state, given = model.net.state_dict(), donor.net.state_dict()
    for key in ("lidar_proj.body.0.weight", "coarse_head.out.bias", "cascade.mlp.0.weight"):
        assert torch.equal(state[key], given[key])
    assert not model.net.cascade.mlp[-1].weight.any() and not model.net.cascade.mlp[-1].bias.any()
    lidar = models.create("lidar")
    frame = synth.sensor_frame(seed=5)
    a, b = model.predict(frame), lidar.predict(frame)
    np.testing.assert_array_equal(a.semantics, b.semantics)
    np.testing.assert_array_equal(a.flow, b.flow)
    with pytest.raises(DataError, match="'modalities' is \\['lidar'\\], the tiny preset has"):
        init_branches(models.create("conet", weights="random"), None, None, rest, "tiny")


def test_presets_declare_their_inputs():
    fused, camera, lidar = (CONetModel(CONET_PRESETS[n]) for n in ("tiny", "tiny_camera", "tiny_lidar"))
    assert fused.inputs == {"cameras", "lidar"} and camera.inputs == {"cameras"} and lidar.inputs == {"lidar"}
    assert fused.sensor_request().cameras == CAMERA_CHANNELS and fused.sensor_request().lidar_sweeps == 5
    assert camera.sensor_request().lidar_sweeps == 0 and camera.training_request().lidar_sweeps == 1  # depth targets
    assert lidar.sensor_request().cameras == () and lidar.training_request() == lidar.sensor_request()
    assert camera.net.lidar is None and lidar.net.camera is None and fused.net.fusion is not None
    assert camera.net.fusion is None and lidar.net.fusion is None
    assert 700_000 <= fused.num_parameters() <= 1_500_000
    assert (CONET_PRESETS["base"].image_wh_px, CONET_PRESETS["base"].n_sweeps) == ((704, 256), 10)
    frame = dataclasses.replace(synth.sensor_frame(seed=2), lidar=None)  # cameras only at inference
    pred = camera.predict(frame)
    assert pred.semantics.shape == (200, 200, 16)
    with pytest.raises(ValidationError, match="needs LiDAR"):
        fused.predict(frame)
    with pytest.raises(ValidationError, match="CONetConfig.modalities"):
        CONetModel(dataclasses.replace(CONET_PRESETS["tiny"], modalities=("radar",)))


def test_branches_load_strictly_from_the_single_modality_checkpoints(tmp_path):
    lidar_w, camera_w = shipped_weights("lidar", "tiny"), shipped_weights("bevdet_occ", "tiny")
    model = models.create("conet", weights="random")
    record = init_branches(model, lidar_w, camera_w)
    assert set(record) == {"lidar", "camera"} and len(record["lidar"]["sha256"]) == 64
    lidar_state, camera_state = models.create("lidar").net.state_dict(), models.create("bevdet_occ").net.state_dict()
    state = model.net.state_dict()
    for key, value in lidar_state.items():
        if key.startswith("unet."):
            assert torch.equal(state["lidar." + key[5:]], value)
        if key.startswith("head."):
            assert torch.equal(state["lidar_head." + key[5:]], value)
    for key, value in camera_state.items():
        if key.split(".")[0] in ("image_encoder", "view_transformer", "voxel_encoder"):
            assert torch.equal(state["camera." + key], value)
    with pytest.raises(DataError, match="no LiDAR branch"):
        init_branches(models.create("conet", config="tiny_camera", weights="random"), lidar_w, None)
    bad = models.create("lidar", config={"channels": [16, 32, 64], "n_sweeps": 3}, weights="random")
    save_checkpoint(tmp_path / "lidar3", bad.net, bad.meta())
    with pytest.raises(DataError, match="'n_sweeps' is 3"):
        init_branches(model, tmp_path / "lidar3.safetensors", None)


def _loss(model, batch, targets) -> float:
    torch.manual_seed(0)  # same Lovasz subset every time
    with torch.no_grad():
        return float(model.loss(model.forward(batch), targets)[0])


def test_overfit_steps_lower_the_camera_only_loss():
    torch.manual_seed(0)
    model = models.create("conet", config="tiny_camera", weights="random")
    frame = synth.sensor_frame(seed=1)
    batch = model.collate([model.encode(frame)])
    targets = model.collate_targets([model.targets(frame, synth.ground_truth(), None)])
    assert int((targets["depth"] >= 0).sum()) > 100
    model.net.train()
    opt = torch.optim.Adam(model.net.parameters(), lr=2e-3)
    before = _loss(model, batch, targets)
    for _ in range(3):
        loss, parts = model.loss(model.forward(batch), targets)
        assert {"fine_ce", "coarse_ce", "depth_ce"} <= set(parts)
        opt.zero_grad()
        model.backward(loss)
        opt.step()
    assert _loss(model, batch, targets) < before


def test_lidar_only_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = models.create("conet", config="tiny_lidar", weights="random")
    weights = save_checkpoint(tmp_path / "conet_lidar", model.net, model.meta())
    again = models.create("conet", weights=weights)
    assert again.inputs == {"lidar"} and again.config == model.config
    frame = synth.sensor_frame(seed=4)
    a, b = model.predict(frame), again.predict(frame)
    np.testing.assert_array_equal(a.semantics, b.semantics)
    np.testing.assert_array_equal(a.flow, b.flow)
