"""The ``lidar`` perception plugin: multi-sweep LiDAR -> Occ3D semantics + flow + lidarseg point labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.lidar.net import LidarOccNet
from models.lidar.voxelize import voxelize
from models.losses import IGNORE, flow_l1, masked_target, semantic_loss
from models.targets import occupancy_targets, stack_occupancy_targets
from models.torch_base import Batch, TorchOccModel
from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.types import GridSpec, OccupancyFrame, OccupancyPrediction, SensorFrame


@dataclass(frozen=True)
class LidarConfig:
    """``n_sweeps`` LiDAR sweeps requested (keyframe included); ``input_voxel_m`` input voxel size (must
    divide the 0.4 m output voxel); U-Net ``channels`` per level and residual ``blocks`` per level; BEV
    completion width ``bev_channels`` and ``bev_blocks``; point head width; loss weights (Lovasz on at most
    ``lovasz_max_voxels`` random voxels / points) and the GT mask carrying the occupancy loss ("camera",
    "lidar", "none")."""

    n_sweeps: int = 5
    input_voxel_m: float = 0.4
    channels: tuple[int, ...] = (16, 32, 64)
    blocks: int = 1
    bev_channels: int = 32
    bev_blocks: int = 2
    point_channels: int = 32
    lovasz_weight: float = 1.0
    lovasz_max_voxels: int = 100_000
    flow_weight: float = 0.5
    point_weight: float = 1.0
    loss_mask: str = "camera"


LIDAR_PRESETS = {
    "tiny": LidarConfig(),
    "base": LidarConfig(
        n_sweeps=10,
        input_voxel_m=0.2,
        channels=(32, 64, 128, 256),
        blocks=2,
        bev_channels=128,
        bev_blocks=4,
        point_channels=64,
    ),
}


class LidarModel(TorchOccModel):
    """Multi-sweep LiDAR occupancy (sparse U-Net on spconv). Output: Occ3D grid and labels, flow and
    lidarseg challenge labels of the keyframe points."""

    name = "lidar"
    inputs = frozenset({"lidar"})
    sparse_on_cpu_single_thread = True
    presets = LIDAR_PRESETS
    config_cls = LidarConfig

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        pool = round(self.grid.voxel_size_m / cfg.input_voxel_m)
        if pool < 1 or abs(pool * cfg.input_voxel_m - self.grid.voxel_size_m) > 1e-6:
            raise ValidationError(
                f"LidarConfig.input_voxel_m: {cfg.input_voxel_m} must divide {self.grid.voxel_size_m}"
            )
        self.input_grid = GridSpec(
            "lidar_input", self.grid.range_min_m, cfg.input_voxel_m, tuple(s * pool for s in self.grid.shape), "ego"
        )
        return LidarOccNet(
            self.input_grid.shape,
            pool,
            cfg.channels,
            cfg.blocks,
            cfg.bev_channels,
            cfg.bev_blocks,
            cfg.point_channels,
            self.labels.num_classes,
        )

    def sensor_request(self) -> SensorRequest:
        return SensorRequest(lidar_sweeps=self.config.n_sweeps)

    def encode(self, frame: SensorFrame) -> Batch:
        if frame.lidar is None:
            raise ValidationError(f"{self.name}: SensorFrame {frame.sample_token} has no LiDAR")
        pts, lag = frame.lidar.points, frame.lidar.time_lag_s
        vox = voxelize(pts, lag, self.input_grid)
        key = frame.lidar.sweep_index == 0
        return {
            "voxel_features": torch.from_numpy(vox.features),
            "voxel_coords": torch.from_numpy(vox.coords),
            "point_features": torch.from_numpy(vox.point_features[key]),
            "point_voxel": torch.from_numpy(vox.point_voxel[key]),
        }

    def collate(self, samples: list[Batch]) -> Batch:
        coords, pv, offset = [], [], 0
        for b, s in enumerate(samples):
            c = s["voxel_coords"]
            coords.append(torch.cat([torch.full((len(c), 1), b, dtype=torch.int32), c], dim=1))
            p = s["point_voxel"]
            pv.append(torch.where(p >= 0, p + offset, p))
            offset += len(c)
        return {
            "voxel_features": torch.cat([s["voxel_features"] for s in samples]),
            "voxel_coords": torch.cat(coords),
            "point_features": torch.cat([s["point_features"] for s in samples]),
            "point_voxel": torch.cat(pv),
            "batch_size": len(samples),
            "point_counts": [len(s["point_voxel"]) for s in samples],
        }

    def forward(self, batch: Batch) -> Batch:
        out = super().forward(batch)
        out["point_counts"] = batch["point_counts"]
        return out

    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        t = occupancy_targets(occupancy, self.grid, self.labels, self.config.loss_mask)
        n_key = int(np.count_nonzero(frame.lidar.sweep_index == 0)) if frame.lidar is not None else 0
        if lidarseg is None:
            point = np.zeros(n_key, np.int64)
        elif len(lidarseg) != n_key:
            raise ValidationError(
                f"{frame.sample_token}: lidarseg has {len(lidarseg)} labels for {n_key} keyframe points"
            )
        else:
            point = lidarseg.astype(np.int64)
        t["point_labels"] = torch.from_numpy(point)
        return t

    def collate_targets(self, samples: list[Batch]) -> Batch:
        out = stack_occupancy_targets(samples)
        out["point_labels"] = torch.cat([s["point_labels"] for s in samples])
        return out

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        sem, mask = targets["sem"].to(self.device), targets["mask"].to(self.device)
        ce, lov = semantic_loss(
            out["sem_logits"], masked_target(sem, mask), self.class_weights, cfg.lovasz_weight, cfg.lovasz_max_voxels
        )
        occupied = mask & (sem != self.labels.free_index)
        fl = flow_l1(out["flow"], targets["flow"].to(self.device), occupied)
        pl = targets["point_labels"].to(self.device)
        pl = torch.where(pl > 0, pl, torch.full_like(pl, IGNORE))
        p_ce, p_lov = semantic_loss(out["point_logits"], pl, torch.ones(17), cfg.lovasz_weight, cfg.lovasz_max_voxels)
        total = (
            ce + cfg.lovasz_weight * lov + cfg.flow_weight * fl + cfg.point_weight * (p_ce + cfg.lovasz_weight * p_lov)
        )
        parts = {"occ_ce": ce, "occ_lovasz": lov, "flow_l1": fl, "point_ce": p_ce, "point_lovasz": p_lov}
        return total, {k: float(v.detach()) for k, v in parts.items()}

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        counts = out["point_counts"]
        start = sum(counts[:index])
        logits = out["point_logits"][start : start + counts[index]]
        point_labels = (logits[:, 1:].argmax(1) + 1).to(torch.uint8).cpu().numpy()
        return self.decode_occupancy(out["sem_logits"], out["flow"], index, point_labels=point_labels)
