"""The ``conet`` perception plugin: CONet, the Cascade Occupancy Network of OpenOccupancy (Wang et al., "OpenOccupancy:
A Large Scale Benchmark for Surrounding Semantic Occupancy Perception", ICCV 2023), on the Occ3D 200x200x16 grid
with 18 classes and flow.

Parts (``net.CONetNet``): an LSS camera branch (``models.lss``, as ``bevdet_occ``) and a sparse LiDAR branch
(``models.lidar``'s spconv U-Net), both brought to the coarse volume (Occ3D / ``coarse_factor``: 100x100x8 at
factor 2) and mixed by OpenOccupancy's adaptive fusion (learned per-voxel sigmoid weights, ``fusion``); a coarse
occupancy head; a fine LiDAR head (the ``lidar`` model's BEV completion over the LiDAR branch's fine features) giving
the fine base prediction (camera-only presets: the upsampled coarse one); the cascade (``cascade``) that refines at
200x200x16 only the fine voxels under coarse voxels predicted occupied, from features sampled from both branches, as
a residual on the base, the rest keeping the base prediction.
``CONetModel.cascade_stats`` reports how many voxels the cascade refined and the share of the full grid it skipped.

Presets: ``tiny`` (CPU, camera + LiDAR), ``base`` (paper scale for GPUs: 704x256 images, ResNet-18-like
backbone, 10 sweeps, a 4-level U-Net), and OpenOccupancy's single-modality baselines of the same network,
``tiny_camera`` / ``base_camera`` (cameras only at inference; the keyframe LiDAR sweep gives depth targets in
training, as the LSS models) and ``tiny_lidar`` / ``base_lidar``.

Loss: class-weighted CE + Lovasz-softmax on the fine prediction and, with weight ``coarse_weight``, on the coarse
one (``models.targets.pool_targets``: a coarse voxel takes its most frequent occupied class); flow L1 on
GT-occupied visible voxels at both levels; depth CE on the camera branch (BEVDepth).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from models.conet.cascade import FineGrid
from models.conet.net import CameraBranch, CONetNet
from models.lidar.voxelize import voxelize
from models.losses import flow_l1, masked_target, semantic_loss
from models.lss.camera_model import LSS_BASE_FIELDS, LssConfig, LssOccModel
from models.lss.depth import depth_loss
from models.lss.pool import PoolGrid
from models.targets import occupancy_targets, pool_targets, stack_occupancy_targets
from models.torch_base import Batch
from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.types import OccupancyFrame, OccupancyPrediction, SensorFrame

MODALITIES = ("cameras", "lidar")


@dataclass(frozen=True)
class CONetConfig(LssConfig):
    """The ``LssConfig`` fields (camera branch), and: ``modalities`` (a non-empty subset of ("cameras", "lidar"));
    LiDAR branch: ``n_sweeps`` sweeps, U-Net ``lidar_channels`` per level and ``lidar_blocks`` residual blocks per
    level over the Occ3D voxels, its fine head (the ``lidar`` model's BEV completion) ``lidar_bev_channels`` /
    ``lidar_bev_blocks``; camera branch: LSS volume of ``voxel_channels[0]`` channels on the coarse grid
    (``voxel_channels[1]`` at the voxel encoder's half resolution); coarse grid = Occ3D / ``coarse_factor``;
    ``fusion_channels`` of the fused volume; coarse head ``bev_channels`` / ``bev_blocks``; the cascade samples
    ``image_sample_channels`` image features and refines with an MLP of width ``refine_hidden``;
    ``coarse_weight`` weighs the coarse level's loss."""

    modalities: tuple[str, ...] = MODALITIES
    n_sweeps: int = 5
    lidar_channels: tuple[int, ...] = (16, 32, 64)
    lidar_blocks: int = 1
    lidar_bev_channels: int = 32
    lidar_bev_blocks: int = 2
    voxel_channels: tuple[int, int] = (16, 32)
    coarse_factor: int = 2
    fusion_channels: int = 16
    bev_channels: int = 28
    bev_blocks: int = 1
    image_sample_channels: int = 16
    refine_hidden: int = 48
    coarse_weight: float = 1.0


_TINY = CONetConfig()
_BASE = CONetConfig(
    **LSS_BASE_FIELDS,
    n_sweeps=10,
    lidar_channels=(32, 64, 128, 256),
    lidar_blocks=2,
    lidar_bev_channels=128,
    lidar_bev_blocks=4,
    voxel_channels=(32, 64),
    fusion_channels=64,
    bev_channels=128,
    bev_blocks=4,
    image_sample_channels=64,
    refine_hidden=128,
)
CONET_PRESETS = {
    "tiny": _TINY,
    "tiny_camera": replace(_TINY, modalities=("cameras",)),
    "tiny_lidar": replace(_TINY, modalities=("lidar",)),
    "base": _BASE,
    "base_camera": replace(_BASE, modalities=("cameras",)),
    "base_lidar": replace(_BASE, modalities=("lidar",)),
}


@dataclass(frozen=True)
class CascadeStats:
    """One sample's cascade: ``coarse_occupied`` coarse voxels predicted occupied, ``refined_voxels`` fine voxels
    refined (``coarse_factor**3`` per occupied coarse voxel) of ``full_voxels``; ``refined_share`` =
    refined / full and ``saved_voxels`` = full - refined (fine voxels the refinement did not compute)."""

    coarse_occupied: int
    refined_voxels: int
    full_voxels: int

    @property
    def refined_share(self) -> float:
        return self.refined_voxels / self.full_voxels

    @property
    def saved_voxels(self) -> int:
        return self.full_voxels - self.refined_voxels


class CONetModel(LssOccModel):
    """Camera + LiDAR occupancy with adaptive fusion and a coarse-to-fine cascade. ``inputs`` (per instance)
    follows the preset's ``modalities``; the class declares both."""

    name = "conet"
    inputs = frozenset(MODALITIES)
    presets = CONET_PRESETS
    config_cls = CONetConfig

    def __init__(self, config: CONetConfig, device: str | torch.device = "cpu") -> None:
        mods = tuple(config.modalities)
        if not mods or len(set(mods)) != len(mods) or not set(mods) <= set(MODALITIES):
            raise ValidationError(f"CONetConfig.modalities: expected a non-empty subset of {MODALITIES}, got {mods}")
        self.inputs = frozenset(mods)
        self.sparse_on_cpu_single_thread = "lidar" in mods
        super().__init__(config, device)

    @property
    def uses_cameras(self) -> bool:
        return "cameras" in self.inputs

    @property
    def uses_lidar(self) -> bool:
        return "lidar" in self.inputs

    def build_net(self) -> torch.nn.Module:
        cfg, grid = self.config, self.grid
        f = cfg.coarse_factor
        if f < 1 or any(s % (2 * f) for s in grid.shape):
            raise ValidationError(f"CONetConfig.coarse_factor: {f} x 2 must divide the grid {grid.shape}")
        coarse = tuple(s // f for s in grid.shape)
        camera = None
        if self.uses_cameras:
            self.feature_hw  # noqa: B018 (validates image_wh_px against the backbone)
            volume = PoolGrid(grid.range_min_m, grid.range_max_m, coarse)
            camera = CameraBranch(
                cfg.backbone_widths, cfg.backbone_blocks, cfg.neck_channels, self.depth_bins, volume, cfg.voxel_channels
            )
        return CONetNet(
            camera,
            cfg.voxel_channels[0],
            cfg.lidar_channels if self.uses_lidar else None,
            cfg.lidar_blocks,
            (cfg.lidar_bev_channels, cfg.lidar_bev_blocks),
            FineGrid(grid.range_min_m, grid.voxel_size_m, grid.shape),
            f,
            cfg.fusion_channels,
            cfg.bev_channels,
            cfg.bev_blocks,
            cfg.image_sample_channels,
            cfg.refine_hidden,
            self.labels.num_classes,
            self.labels.free_index,
        )

    # --- sensors and encoding -------------------------------------------------------------------
    def sensor_request(self) -> SensorRequest:
        return SensorRequest(
            cameras=self.cameras if self.uses_cameras else (),
            lidar_sweeps=self.config.n_sweeps if self.uses_lidar else 0,
            camera_wh_px=self.config.image_wh_px if self.uses_cameras else None,
        )

    def training_request(self) -> SensorRequest:
        """The inference sensors, plus the keyframe LiDAR sweep (depth targets) for the camera-only preset."""
        req = self.sensor_request()
        if self.uses_cameras and not self.uses_lidar:
            return SensorRequest(cameras=req.cameras, lidar_sweeps=1)
        return req

    def encode(self, frame: SensorFrame) -> Batch:
        """Camera presets: ``images`` (N, 3, H, W), ``img_from_ego`` (N, 3, 4); LiDAR presets: ``voxel_features``
        (V, 9) and ``voxel_coords`` (V, 3) int32 of the sweeps voxelised on the Occ3D grid
        (``models.lidar.voxelize``)."""
        out: Batch = super().encode(frame) if self.uses_cameras else {}
        if self.uses_lidar:
            if frame.lidar is None:
                raise ValidationError(f"{self.name}: SensorFrame {frame.sample_token} has no LiDAR")
            vox = voxelize(frame.lidar.points, frame.lidar.time_lag_s, self.grid)
            out["voxel_features"] = torch.from_numpy(vox.features)
            out["voxel_coords"] = torch.from_numpy(vox.coords)
        return out

    def collate(self, samples: list[Batch]) -> Batch:
        out: Batch = super().collate(samples) if self.uses_cameras else {}
        if self.uses_lidar:
            coords = [
                torch.cat([torch.full((len(s["voxel_coords"]), 1), b, dtype=torch.int32), s["voxel_coords"]], dim=1)
                for b, s in enumerate(samples)
            ]
            out["voxel_features"] = torch.cat([s["voxel_features"] for s in samples])
            out["voxel_coords"] = torch.cat(coords)
            out["batch_size"] = len(samples)
        return out

    # --- training -------------------------------------------------------------------------------
    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        """Occupancy targets, and ``depth`` (N, Hf, Wf) from the keyframe LiDAR for camera presets."""
        if self.uses_cameras:
            return super().targets(frame, occupancy, lidarseg)
        return occupancy_targets(occupancy, self.grid, self.labels, self.config.loss_mask)

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return super().collate_targets(samples) if self.uses_cameras else stack_occupancy_targets(samples)

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, k, free = self.config, self.labels.num_classes, self.labels.free_index
        sem, flow, mask = (targets[key].to(self.device) for key in ("sem", "flow", "mask"))
        parts: dict[str, torch.Tensor] = {}
        levels = {"fine": (out["sem_logits"], out["flow"], sem, flow, mask)}
        levels["coarse"] = (
            out["coarse_sem_logits"],
            out["coarse_flow"],
            *pool_targets(sem, flow, mask, cfg.coarse_factor, k, free),
        )
        total = out["sem_logits"].new_zeros(())
        for level, (logits, pred_flow, s, fl, m) in levels.items():
            ce, lov = semantic_loss(
                logits, masked_target(s, m), self.class_weights, cfg.lovasz_weight, cfg.lovasz_max_voxels
            )
            f_l1 = flow_l1(pred_flow, fl, m & (s != free))
            weight = 1.0 if level == "fine" else cfg.coarse_weight
            total = total + weight * (ce + cfg.lovasz_weight * lov + cfg.flow_weight * f_l1)
            parts |= {f"{level}_ce": ce, f"{level}_lovasz": lov, f"{level}_flow_l1": f_l1}
        if self.uses_cameras:
            parts["depth_ce"] = depth_loss(out["depth_logits"], targets["depth"])
            total = total + cfg.depth_weight * parts["depth_ce"]
        return total, {name: float(v.detach()) for name, v in parts.items()}

    # --- output ---------------------------------------------------------------------------------
    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        return self.decode_occupancy(out["sem_logits"], out["flow"], index)

    def cascade_stats(self, out: Batch, index: int) -> CascadeStats:
        """The cascade's work on sample ``index`` of a forward output."""
        return CascadeStats(
            coarse_occupied=int(out["coarse_occupied"][index]),
            refined_voxels=int(out["refined"][index]),
            full_voxels=int(np.prod(self.grid.shape)),
        )
