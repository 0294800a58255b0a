"""The ``occnet`` perception plugin: six cameras -> Occ3D semantics + flow (OccNet-style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.losses import flow_l1, masked_target, semantic_loss
from models.occnet.net import OccNetNet
from models.targets import occupancy_targets, pool_targets, stack_occupancy_targets
from models.torch_base import Batch, TorchOccModel
from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.types import CAMERA_CHANNELS, OccupancyFrame, OccupancyPrediction, SensorFrame

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


@dataclass(frozen=True)
class OccNetConfig:
    """Images are resized to ``image_wh_px``; ``backbone_widths``/``backbone_blocks`` per ResNet stage
    (output stride 2**len); ``dim`` feature / query width; BEV queries on a ``bev_size`` x ``bev_size``
    grid over the Occ3D range, ``num_layers`` encoder layers, ``num_ref`` reference heights per pillar,
    ``num_offsets`` sampling offsets per reference point (scaled by ``offset_scale`` feature pixels);
    cascade decoder widths ``decoder_channels`` (one per stage; each later stage doubles X, Y, Z),
    first-stage height ``z0``; loss weights (``coarse_weight`` multiplies every stage but the finest, which
    alone carries the Lovasz term, on at most ``lovasz_max_voxels`` random visible voxels)."""

    image_wh_px: tuple[int, int] = (256, 144)
    backbone_widths: tuple[int, ...] = (32, 64, 128)
    backbone_blocks: tuple[int, ...] = (1, 1, 1)
    dim: int = 64
    bev_size: int = 50
    num_layers: int = 2
    num_ref: int = 4
    num_offsets: int = 2
    offset_scale: float = 2.0
    decoder_channels: tuple[int, ...] = (32, 16, 8)
    z0: int = 4
    lovasz_weight: float = 1.0
    lovasz_max_voxels: int = 100_000
    flow_weight: float = 0.5
    coarse_weight: float = 0.5
    loss_mask: str = "camera"


OCCNET_PRESETS = {
    "tiny": OccNetConfig(),
    "base": OccNetConfig(
        image_wh_px=(1600, 896),
        backbone_widths=(64, 128, 256, 512),
        backbone_blocks=(2, 2, 2, 2),
        dim=256,
        bev_size=100,
        num_layers=6,
        num_ref=4,
        num_offsets=4,
        decoder_channels=(128, 64),
        z0=8,
    ),
}


def encode_cameras(frame: SensorFrame, cameras: tuple[str, ...], image_wh_px: tuple[int, int]) -> Batch:
    """Images of ``cameras`` resized to ``image_wh_px`` and ImageNet-normalised (N, 3, H, W); img_from_ego
    (N, 3, 4) = scaled intrinsics @ cam_from_ego."""
    w, h = image_wh_px
    by_channel = {c.channel: c for c in frame.cameras}
    images, projs = [], []
    for ch in cameras:
        cam = by_channel[ch]
        img = torch.from_numpy(np.array(cam.load(), dtype=np.float32)).permute(2, 0, 1).unsqueeze(0) / 255.0
        if img.shape[-2:] != (h, w):  # a simulator renders at the requested size (``sensor_request``)
            img = F.interpolate(img, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        img = img[0]
        images.append((img - IMAGENET_MEAN) / IMAGENET_STD)
        scale = np.diag([w / cam.width_px, h / cam.height_px, 1.0])
        cam_from_ego = cam.ego_from_cam.inverse().matrix[:3]
        projs.append(scale @ cam.intrinsics @ cam_from_ego)
    return {"images": torch.stack(images), "img_from_ego": torch.from_numpy(np.stack(projs).astype(np.float32))}


class OccNetModel(TorchOccModel):
    """Multi-camera occupancy: ResNet backbone, BEVFormer-style spatial cross-attention, cascade voxel decoder."""

    name = "occnet"
    inputs = frozenset({"cameras"})
    presets = OCCNET_PRESETS
    config_cls = OccNetConfig
    cameras = CAMERA_CHANNELS

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        up = 2 ** (len(cfg.decoder_channels) - 1)
        nx, ny, nz = self.grid.shape
        if cfg.bev_size * up != nx or cfg.bev_size * up != ny or cfg.z0 * up != nz:
            raise ValidationError(
                f"OccNetConfig: bev_size {cfg.bev_size} and z0 {cfg.z0} times {up} (decoder stages) "
                f"must give the grid {self.grid.shape}"
            )
        return OccNetNet(
            cfg.backbone_widths,
            cfg.backbone_blocks,
            cfg.dim,
            (cfg.bev_size, cfg.bev_size),
            self.grid.range_min_m,
            self.grid.range_max_m,
            cfg.num_layers,
            cfg.num_ref,
            cfg.num_offsets,
            cfg.offset_scale,
            cfg.decoder_channels,
            cfg.z0,
            self.labels.num_classes,
        )

    def sensor_request(self) -> SensorRequest:
        return SensorRequest(cameras=self.cameras, camera_wh_px=self.config.image_wh_px)

    def encode(self, frame: SensorFrame) -> Batch:
        return encode_cameras(frame, self.cameras, self.config.image_wh_px)

    def collate(self, samples: list[Batch]) -> Batch:
        return {k: torch.stack([s[k] for s in samples]) for k in ("images", "img_from_ego")}

    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        return occupancy_targets(occupancy, self.grid, self.labels, self.config.loss_mask)

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return stack_occupancy_targets(samples)

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        sem, flow, mask = (targets[k].to(self.device) for k in ("sem", "flow", "mask"))
        stages = out["stages"]
        total = sem.new_zeros((), dtype=torch.float32)
        parts: dict[str, float] = {}
        for s, (logits, pred_flow) in enumerate(stages):
            factor = sem.shape[1] // logits.shape[2]
            s_sem, s_flow, s_mask = pool_targets(
                sem, flow, mask, factor, self.labels.num_classes, self.labels.free_index
            )
            finest = s == len(stages) - 1
            lov_w = cfg.lovasz_weight if finest else 0.0
            ce, lov = semantic_loss(
                logits, masked_target(s_sem, s_mask), self.class_weights, lov_w, cfg.lovasz_max_voxels
            )
            fl = flow_l1(pred_flow, s_flow, s_mask & (s_sem != self.labels.free_index))
            weight = 1.0 if finest else cfg.coarse_weight
            total = total + weight * (ce + lov_w * lov + cfg.flow_weight * fl)
            parts.update(
                {
                    f"s{s}_ce": float(ce.detach()),
                    f"s{s}_lovasz": float(lov.detach()),
                    f"s{s}_flow_l1": float(fl.detach()),
                }
            )
        return total, parts

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        return self.decode_occupancy(out["sem_logits"], out["flow"], index)
