"""The ``alocc`` perception plugin: six cameras -> Occ3D semantics + flow (ALOcc, Chen et al., "ALOcc: Adaptive
Lifting-Based 3D Semantic Occupancy and Cost Volume-Based Flow Predictions", ICCV 2025, arXiv 2411.07725).

Parts (each in its own module): adaptive lifting = LSS depth x context lifting (``models.lss``) with the
occlusion-aware soft filling of the space behind observed surfaces (``soft_filling``); semantic-prototype
occupancy head shared by the 3D voxels and the 2D image features, trained with category- and
confidence-aware voxel sampling (``prototypes``, 2D targets from ``image_labels``); per-voxel flow by
hybrid classification-regression (``flow_head``). Depth is supervised with LiDAR during training only
(``training_request``); inference reads the cameras alone. Not built: the paper's inter-object occlusion
offsets, depth denoising and the temporal BEV cost volume of the flow branch (single-frame model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.alocc.flow_head import flow_bin_loss
from models.alocc.image_labels import first_hit_labels
from models.alocc.net import ALOccNet
from models.alocc.prototypes import category_aware_sample
from models.losses import IGNORE, flow_l1, lovasz_softmax, masked_target
from models.lss.camera_model import LssOccModel, img_from_ego
from models.lss.depth import depth_loss
from models.lss.geometry import DepthBins
from models.lss.pool import PoolGrid
from models.torch_base import Batch
from occplan.errors import ValidationError
from occplan.types import OccupancyFrame, OccupancyPrediction, SensorFrame


@dataclass(frozen=True)
class ALOccConfig:
    """Images resized to ``image_wh_px``; ResNet ``backbone_widths`` / ``backbone_blocks`` with an FPN-LSS
    ``image_dim`` neck (``models.lss.image_encoder``, stride 2**(len - 1)); depth bins ``depth_min_m`` to
    ``depth_max_m`` every ``depth_step_m`` (camera z); ``context_channels`` lifted into a ``volume_shape``
    voxel volume over the Occ3D range (half the output grid in every axis), ``encoder_blocks`` 3D residual
    blocks; prototype space ``embed_dim`` (the voxel embedding at the output grid); flow ``flow_bins`` over
    +-``flow_max_mps`` on the volume's grid. Losses: class-weighted CE on every visible voxel +
    ``lovasz_weight`` x Lovasz on the category-aware sample (``sample_per_class`` per class);
    ``image_weight`` x 2D prototype CE (targets: rays sampled every ``label_step_m``); ``depth_weight`` x
    LiDAR depth CE; ``flow_weight`` x (flow L1 + ``flow_bin_weight`` x bin CE)."""

    image_wh_px: tuple[int, int] = (256, 144)
    backbone_widths: tuple[int, ...] = (24, 48, 96, 128)
    backbone_blocks: tuple[int, ...] = (1, 1, 1, 1)
    image_dim: int = 64
    depth_min_m: float = 1.0
    depth_max_m: float = 45.0
    depth_step_m: float = 1.0
    volume_shape: tuple[int, int, int] = (100, 100, 8)
    context_channels: int = 32
    encoder_blocks: int = 1
    embed_dim: int = 16
    flow_bins: int = 13
    flow_max_mps: float = 12.0
    label_step_m: float = 0.4
    lovasz_weight: float = 1.0
    sample_per_class: int = 4000
    image_weight: float = 0.5
    depth_weight: float = 1.0
    flow_weight: float = 0.5
    flow_bin_weight: float = 0.1
    loss_mask: str = "camera"


ALOCC_PRESETS = {
    "tiny": ALOccConfig(),
    "base": ALOccConfig(
        image_wh_px=(704, 256),
        backbone_widths=(64, 128, 256, 512),
        backbone_blocks=(3, 4, 6, 3),
        image_dim=256,
        depth_step_m=0.5,
        context_channels=64,
        encoder_blocks=4,
        embed_dim=64,
        sample_per_class=20_000,
    ),
}


class ALOccModel(LssOccModel):
    """Multi-camera occupancy + flow: adaptive (occlusion-aware) LSS lifting, prototype head, flow head.

    Camera encoding, the LiDAR ``training_request`` and the depth targets come from ``LssOccModel``."""

    name = "alocc"
    presets = ALOCC_PRESETS
    config_cls = ALOccConfig

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        self.feature_hw  # noqa: B018 (validates image_wh_px against the stride)
        if tuple(2 * s for s in cfg.volume_shape) != tuple(self.grid.shape):
            raise ValidationError(
                f"ALOccConfig.volume_shape {cfg.volume_shape}: must be half the grid {self.grid.shape}"
            )
        pool_grid = PoolGrid(self.grid.range_min_m, self.grid.range_max_m, tuple(cfg.volume_shape))
        return ALOccNet(
            cfg.backbone_widths,
            cfg.backbone_blocks,
            cfg.image_dim,
            self.depth_bins,
            pool_grid,
            cfg.context_channels,
            cfg.encoder_blocks,
            cfg.embed_dim,
            self.labels.num_classes,
            cfg.flow_bins,
            cfg.flow_max_mps,
        )

    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        """``LssOccModel.targets`` (occupancy, LiDAR ``depth``) + ``image_labels`` (N, Hf, Wf): the class of the
        first occupied GT voxel along each feature cell's ray (``IGNORE`` when none)."""
        out = super().targets(frame, occupancy, lidarseg)
        cfg = self.config
        by_channel = {c.channel: c for c in frame.cameras}
        projs = np.stack([img_from_ego(by_channel[ch], cfg.image_wh_px) for ch in self.cameras]).astype(np.float32)
        label_bins = DepthBins(cfg.depth_min_m, cfg.depth_max_m, cfg.label_step_m)
        labels = first_hit_labels(
            occupancy.semantics,
            self.grid,
            self.labels.free_index,
            torch.from_numpy(projs),
            self.feature_hw,
            self.feature_stride,
            label_bins,
        )
        return {**out, "image_labels": torch.from_numpy(labels)}

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return {**super().collate_targets(samples), "image_labels": torch.stack([s["image_labels"] for s in samples])}

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        k = self.labels.num_classes
        sem, flow, mask = (targets[key].to(self.device) for key in ("sem", "flow", "mask"))
        target = masked_target(sem, mask)
        log_probs = out["sem_logits"].log_softmax(1)
        zero = log_probs.sum() * 0.0
        if bool((target != IGNORE).any()):
            ce = F.nll_loss(log_probs, target, weight=self.class_weights.to(self.device), ignore_index=IGNORE)
        else:
            ce = zero
        confidence = log_probs.gather(1, target.clamp(max=k - 1).unsqueeze(1)).squeeze(1).exp()
        sample = category_aware_sample(target, confidence, cfg.sample_per_class, IGNORE)
        lov = lovasz_softmax(log_probs.movedim(1, -1).reshape(-1, k)[sample].exp(), target.reshape(-1)[sample])
        image_labels = targets["image_labels"].to(self.device)
        pix = (
            F.cross_entropy(out["pixel_logits"].movedim(2, 1), image_labels, ignore_index=IGNORE)
            if bool((image_labels != IGNORE).any())
            else zero
        )
        dep = depth_loss(out["depth_logits"], targets["depth"])
        occupied = mask & (sem != self.labels.free_index)
        fl = flow_l1(out["flow"], flow, occupied)
        fb = flow_bin_loss(out["flow_bin_logits"], flow, occupied, self.net.flow_head.centres)
        total = (
            ce
            + cfg.lovasz_weight * lov
            + cfg.image_weight * pix
            + cfg.depth_weight * dep
            + cfg.flow_weight * (fl + cfg.flow_bin_weight * fb)
        )
        parts = {"ce": ce, "lovasz": lov, "image_ce": pix, "depth_ce": dep, "flow_l1": fl, "flow_bin_ce": fb}
        return total, {name: float(v.detach()) for name, v in parts.items()}

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        return self.decode_occupancy(out["sem_logits"], out["flow"], index)
