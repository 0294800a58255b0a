"""``LssOccModel``: the TorchOccModel parts shared by the LSS camera models (``bevdet_occ``, ``flashocc``):
camera encoding as occnet's (``encode_cameras``: six images resized to ``image_wh_px``, ImageNet-normalised, with
``img_from_ego``), LiDAR depth targets for training (``training_request`` adds the keyframe LiDAR sweep;
``encode`` reads cameras only), and the loss: class-weighted CE + Lovasz-softmax on the Occ3D grid, flow L1
on GT-occupied visible voxels, depth cross-entropy (``models.lss.depth``).

A subclass's config is an ``LssConfig`` (or carries its fields); its net returns ``sem_logits``
(B, K, X, Y, Z), ``flow`` (B, 2, X, Y, Z) on the Occ3D grid and
``depth_logits`` (B, N, D, Hf, Wf).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.losses import flow_l1, masked_target, semantic_loss
from models.lss.depth import depth_loss, depth_targets
from models.lss.geometry import DepthBins
from models.occnet.model import encode_cameras
from models.targets import occupancy_targets, stack_occupancy_targets
from models.torch_base import Batch, TorchOccModel
from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.types import CAMERA_CHANNELS, CameraFrame, OccupancyFrame, OccupancyPrediction, SensorFrame


def img_from_ego(cam: CameraFrame, image_wh_px: tuple[int, int]) -> np.ndarray:
    """(3, 4) projection of ego points into ``cam``'s image resized to ``image_wh_px`` (the ``img_from_ego``
    of ``encode_cameras``, without loading the image)."""
    w, h = image_wh_px
    scale = np.diag([w / cam.width_px, h / cam.height_px, 1.0])
    return scale @ cam.intrinsics @ cam.ego_from_cam.inverse().matrix[:3]


@dataclass(frozen=True)
class LssConfig:
    """The fields of an LSS camera model: images resized to ``image_wh_px``; image encoder ``backbone_widths`` /
    ``backbone_blocks`` per ResNet stage (feature stride 2**(len - 1)) and ``neck_channels``; depth bins
    ``depth_min_m`` to ``depth_max_m`` in ``depth_step_m`` steps; loss weights (Lovasz on at most
    ``lovasz_max_voxels`` voxels, flow L1, depth CE) and the GT mask carrying the occupancy loss."""

    image_wh_px: tuple[int, int] = (256, 144)
    backbone_widths: tuple[int, ...] = (32, 48, 64, 128)
    backbone_blocks: tuple[int, ...] = (1, 1, 1, 1)
    neck_channels: int = 64
    depth_min_m: float = 1.0
    depth_max_m: float = 45.0
    depth_step_m: float = 1.0
    lovasz_weight: float = 1.0
    lovasz_max_voxels: int = 50_000
    flow_weight: float = 0.5
    depth_weight: float = 1.0
    loss_mask: str = "camera"


LSS_BASE_FIELDS = {
    "image_wh_px": (704, 256),
    "backbone_widths": (64, 64, 128, 256, 512),
    "backbone_blocks": (1, 2, 2, 2, 2),
    "neck_channels": 256,
    "depth_step_m": 0.5,
}
"""The paper-scale image encoder and depth bins of the ``base`` presets (704x256 input, ResNet-18-like
backbone, 1-45 m depth at 0.5 m)."""


class LssOccModel(TorchOccModel):
    """Six cameras -> Occ3D semantics + flow through an LSS view transformer, with LiDAR depth supervision."""

    inputs = frozenset({"cameras"})
    cameras = CAMERA_CHANNELS

    @property
    def depth_bins(self) -> DepthBins:
        cfg = self.config
        return DepthBins(cfg.depth_min_m, cfg.depth_max_m, cfg.depth_step_m)

    @property
    def feature_stride(self) -> int:
        """Image pixels per feature cell (``models.lss.image_encoder.ImageEncoder``)."""
        return 2 ** (len(self.config.backbone_widths) - 1)

    @property
    def feature_hw(self) -> tuple[int, int]:
        w, h = self.config.image_wh_px
        s = 2 * self.feature_stride
        if w % s or h % s:
            raise ValidationError(f"{self.name} config: image_wh_px {(w, h)} must be multiples of {s} (backbone)")
        return h // self.feature_stride, w // self.feature_stride

    def encode(self, frame: SensorFrame) -> Batch:
        """``images`` (N, 3, H, W) and ``img_from_ego`` (N, 3, 4) of the six cameras (occnet's encoding);
        LiDAR in ``frame`` is not read."""
        return encode_cameras(frame, self.cameras, self.config.image_wh_px)

    def collate(self, samples: list[Batch]) -> Batch:
        return {k: torch.stack([s[k] for s in samples]) for k in ("images", "img_from_ego")}

    def sensor_request(self) -> SensorRequest:
        return SensorRequest(cameras=self.cameras, camera_wh_px=self.config.image_wh_px)

    def training_request(self) -> SensorRequest:
        """Cameras plus the keyframe LiDAR sweep (depth targets only)."""
        return SensorRequest(cameras=self.cameras, lidar_sweeps=1)

    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        """Occupancy targets (``models.targets.occupancy_targets``) and ``depth`` (N, Hf, Wf) int64 bins from
        the keyframe LiDAR points (all ``NO_DEPTH`` when the frame has no LiDAR)."""
        out = occupancy_targets(occupancy, self.grid, self.labels, self.config.loss_mask)
        by_channel = {c.channel: c for c in frame.cameras}
        projs = np.stack([img_from_ego(by_channel[ch], self.config.image_wh_px) for ch in self.cameras])
        pts = np.zeros((0, 3))
        if frame.lidar is not None:
            pts = frame.lidar.points[frame.lidar.sweep_index == 0, :3]
        out["depth"] = torch.from_numpy(
            depth_targets(pts, projs, self.feature_hw, self.feature_stride, self.depth_bins)
        )
        return out

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return {**stack_occupancy_targets(samples), "depth": torch.stack([s["depth"] for s in samples])}

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        sem, flow, mask = (targets[k].to(self.device) for k in ("sem", "flow", "mask"))
        ce, lov = semantic_loss(
            out["sem_logits"], masked_target(sem, mask), self.class_weights, cfg.lovasz_weight, cfg.lovasz_max_voxels
        )
        fl = flow_l1(out["flow"], flow, mask & (sem != self.labels.free_index))
        dl = depth_loss(out["depth_logits"], targets["depth"])
        total = ce + cfg.lovasz_weight * lov + cfg.flow_weight * fl + cfg.depth_weight * dl
        parts = {"ce": float(ce.detach()), "lovasz": float(lov.detach()), "flow_l1": float(fl.detach())}
        return total, {**parts, "depth_ce": float(dl.detach())}

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        return self.decode_occupancy(out["sem_logits"], out["flow"], index)
