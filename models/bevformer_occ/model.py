"""The ``bevformer_occ`` perception plugin: six cameras -> Occ3D semantics + flow, BEVFormer-style with
temporal memory.

Inference keeps the last frame's BEV with its ego pose (``BevMemory``): the next frame of the same scene
attends to it after aligning it by the ego motion between the two poses (``SensorFrame.world_from_ego``);
``reset`` clears it, and a scene's first frame attends to its own queries. Predicting the same frame
again (same scene and time) reuses the history that frame was first predicted from, so repeated calls
are identical. Training reads the previous keyframe of the scene (``history_keyframes = 1``, see
``models.dataset.OccDataset``) as BEVFormer's history queue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from models.bevformer_occ.net import BevFormerOccNet
from models.losses import flow_l1, masked_target, semantic_loss
from models.occnet.model import encode_cameras
from models.targets import occupancy_targets, stack_occupancy_targets
from models.torch_base import Batch, TorchOccModel
from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.types import CAMERA_CHANNELS, OccupancyFrame, OccupancyPrediction, Pose, SensorFrame


@dataclass(frozen=True)
class BevFormerOccConfig:
    """Images are resized to ``image_wh_px``; ``backbone_widths``/``backbone_blocks`` per ResNet stage
    (output stride 2**len); ``dim`` feature / query width; BEV queries on a ``bev_size`` x ``bev_size``
    grid over the Occ3D x/y range, ``num_layers`` encoder layers; spatial cross-attention with ``num_ref``
    reference heights per pillar and ``num_offsets`` offsets per reference point (scaled by
    ``offset_scale`` feature pixels); temporal self-attention with ``tsa_offsets`` offsets per BEV map
    (scaled by ``tsa_offset_scale_cells`` BEV cells); the head upsamples the BEV once per entry of
    ``up_channels`` (x2 each; bev_size * 2**len must be the grid's X and Y) and lifts each pillar to
    ``height_channels`` features per height bin; loss weights (Lovasz on at most ``lovasz_max_voxels``
    random visible voxels)."""

    image_wh_px: tuple[int, int] = (256, 144)
    backbone_widths: tuple[int, ...] = (32, 64, 128)
    backbone_blocks: tuple[int, ...] = (1, 1, 1)
    dim: int = 64
    bev_size: int = 50
    num_layers: int = 2
    num_ref: int = 4
    num_offsets: int = 2
    offset_scale: float = 2.0
    tsa_offsets: int = 4
    tsa_offset_scale_cells: float = 1.0
    up_channels: tuple[int, ...] = (32, 16)
    height_channels: int = 16
    lovasz_weight: float = 1.0
    lovasz_max_voxels: int = 100_000
    flow_weight: float = 0.5
    loss_mask: str = "camera"


BEVFORMER_OCC_PRESETS = {
    "tiny": BevFormerOccConfig(),
    "base": BevFormerOccConfig(
        image_wh_px=(1600, 896),
        backbone_widths=(64, 128, 256, 512),
        backbone_blocks=(2, 2, 2, 2),
        dim=256,
        bev_size=200,
        num_layers=6,
        num_ref=4,
        num_offsets=4,
        tsa_offsets=4,
        up_channels=(),
        height_channels=32,
    ),
}


@dataclass(frozen=True)
class BevMemory:
    """The BEV (1, C, X, Y) predicted for one frame (ego frame of ``world_from_ego``), with the frame's scene
    and time, and the memory that frame was predicted from (``before``, itself without a ``before``)."""

    scene_name: str
    time_us: int
    world_from_ego: Pose
    bev: torch.Tensor
    before: BevMemory | None


def prev_from_cur(
    world_from_prev: np.ndarray | torch.Tensor, world_from_cur: np.ndarray | torch.Tensor
) -> torch.Tensor:
    """(4, 4) float32 transform from the current ego frame to the previous one (computed in float64)."""
    prev = torch.as_tensor(world_from_prev, dtype=torch.float64)
    cur = torch.as_tensor(world_from_cur, dtype=torch.float64)
    return (torch.linalg.inv(prev) @ cur).float()


class BevFormerOccModel(TorchOccModel):
    """Multi-camera occupancy: ResNet backbone, BEVFormer encoder (temporal self-attention + spatial
    cross-attention), height-lifting head."""

    name = "bevformer_occ"
    inputs = frozenset({"cameras"})
    temporal = True
    history_keyframes = 1
    presets = BEVFORMER_OCC_PRESETS
    config_cls = BevFormerOccConfig
    cameras = CAMERA_CHANNELS

    def __init__(self, config: BevFormerOccConfig, device: str | torch.device = "cpu") -> None:
        super().__init__(config, device)
        self.memory: BevMemory | None = None

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        up = 2 ** len(cfg.up_channels)
        nx, ny, nz = self.grid.shape
        if cfg.bev_size * up != nx or cfg.bev_size * up != ny:
            raise ValidationError(
                f"BevFormerOccConfig: bev_size {cfg.bev_size} times {up} (up_channels stages) must give the "
                f"grid's x/y size {nx}x{ny}"
            )
        return BevFormerOccNet(
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
            cfg.tsa_offsets,
            cfg.tsa_offset_scale_cells,
            cfg.up_channels,
            nz,
            cfg.height_channels,
            self.labels.num_classes,
        )

    def sensor_request(self) -> SensorRequest:
        return SensorRequest(cameras=self.cameras, camera_wh_px=self.config.image_wh_px)

    def reset(self, scene_name: str | None) -> None:
        self.memory = None

    def encode(self, frame: SensorFrame) -> Batch:
        """``encode_cameras`` (images, img_from_ego) plus ``world_from_ego`` (4, 4) float64."""
        return {
            **encode_cameras(frame, self.cameras, self.config.image_wh_px),
            "world_from_ego": torch.from_numpy(frame.world_from_ego.matrix),
        }

    def collate(self, samples: list[Batch]) -> Batch:
        """Stacked images and img_from_ego; samples carrying a ``history`` list (the dataset's previous
        keyframes, oldest first) add the newest one as ``prev_images`` / ``prev_img_from_ego``, with
        ``prev_from_cur`` and ``has_prev`` (samples without one repeat their own inputs, masked out)."""
        batch = {k: torch.stack([s[k] for s in samples]) for k in ("images", "img_from_ego")}
        prevs = [s["history"][-1] if s.get("history") else None for s in samples]
        if any(p is not None for p in prevs):
            filled = [s if p is None else p for s, p in zip(samples, prevs)]
            batch["prev_images"] = torch.stack([p["images"] for p in filled])
            batch["prev_img_from_ego"] = torch.stack([p["img_from_ego"] for p in filled])
            batch["prev_from_cur"] = torch.stack(
                [prev_from_cur(p["world_from_ego"], s["world_from_ego"]) for s, p in zip(samples, filled)]
            )
            batch["has_prev"] = torch.tensor([p is not None for p in prevs])
        return batch

    def _history_for(self, frame: SensorFrame) -> BevMemory | None:
        """The memory ``frame`` attends to: the last frame of the same scene if it is earlier; for the
        last frame itself, the memory it was predicted from."""
        mem = self.memory
        if mem is None or mem.scene_name != frame.scene_name:
            return None
        if mem.time_us == frame.time_us:
            return mem.before
        return mem if mem.time_us < frame.time_us else None

    def _predict(self, frame: SensorFrame) -> OccupancyPrediction:
        self.net.eval()
        history = self._history_for(frame)
        batch = self.collate([self.encode(frame)])
        if history is not None:
            batch["prev_bev"] = history.bev
            batch["prev_from_cur"] = prev_from_cur(history.world_from_ego.matrix, frame.world_from_ego.matrix)[None]
        with torch.inference_mode():
            out = self.forward(batch)
            pred = self.decode(out, 0)
        before = None if history is None else replace(history, before=None)
        self.memory = BevMemory(frame.scene_name, frame.time_us, frame.world_from_ego, out["bev"], before)
        return pred

    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        return occupancy_targets(occupancy, self.grid, self.labels, self.config.loss_mask)

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return stack_occupancy_targets(samples)

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        sem, flow, mask = (targets[k].to(self.device) for k in ("sem", "flow", "mask"))
        ce, lov = semantic_loss(
            out["sem_logits"], masked_target(sem, mask), self.class_weights, cfg.lovasz_weight, cfg.lovasz_max_voxels
        )
        fl = flow_l1(out["flow"], flow, mask & (sem != self.labels.free_index))
        total = ce + cfg.lovasz_weight * lov + cfg.flow_weight * fl
        return total, {"ce": float(ce.detach()), "lovasz": float(lov.detach()), "flow_l1": float(fl.detach())}

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        return self.decode_occupancy(out["sem_logits"], out["flow"], index)
