"""The ``sparseocc`` perception plugin (SparseOcc, Liu et al., "Fully Sparse 3D Occupancy Prediction",
ECCV 2024): six cameras -> Occ3D 200x200x16 semantics + flow, computed only at the voxels a coarse-to-fine
pruning keeps.

Parts (``net.SparseOccNet``): occnet's ResNet image backbone with a two-level FPN (stride 8 and 4 on the
tiny preset); the sparse voxel decoder (``voxel_decoder``): levels 25x25x2 -> 50x50x4 -> 100x100x8 ->
200x200x16 (``octree``), image features sampled only at each level's candidate voxels (coarse levels from
the coarse map, level 2 from the fine one; on the tiny preset the finest level samples no image and refines the
features its voxels inherit: it has 8x the candidates of level 2, so sampling there cost a fifth of the CPU time),
sparse neighbour mixing among the candidates (submanifold
depthwise convolution over the 6 face neighbours; all levels but the finest on the tiny preset), the
top-``keep[l]`` voxels by occupancy logit kept and split into their 8 children; the mask transformer decoder
(``mask_decoder``) whose queries predict a class and a mask over the finest kept voxels, trained by
bipartite matching (``matching``). A voxel that is not kept is free.

Training: GT-guided pruning (each level keeps the blocks holding an observed occupied GT voxel before the
top-scoring rest, so the finer levels see every structure from the first step; inference ranks by logit only);
per level, BCE of the candidates' occupancy logits against "some observed occupied GT voxel inside"
(``visible_occupied``; observed = camera mask or LiDAR mask), candidates with no observed voxel inside
included as negatives (the budget is for what the sensors see); per mask prediction (initial queries and every layer),
matched class CE + mask BCE + Dice; on the output, CE + Lovasz of the combined class scores on the kept
voxels (class-weighted, loss mask), and flow L1 on kept GT-occupied voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.losses import flow_l1, masked_target, semantic_loss
from models.occnet.model import encode_cameras
from models.sparseocc.mask_decoder import class_scores, combine_semantics
from models.sparseocc.matching import mask_set_loss
from models.sparseocc.net import SparseOccNet
from models.sparseocc.octree import gather_dense, level_shapes
from models.sparseocc.voxel_decoder import SparseVoxelDecoder
from models.targets import occupancy_targets, stack_occupancy_targets
from models.torch_base import Batch, TorchOccModel
from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.types import CAMERA_CHANNELS, OccupancyFrame, OccupancyPrediction, SensorFrame


@dataclass(frozen=True)
class SparseOccConfig:
    """Images resized to ``image_wh_px``; occnet's backbone (``backbone_widths`` / ``backbone_blocks``, output
    stride 2**len) with ``img_dim`` output channels. Sparse voxel decoder: ``len(channels)`` levels (the
    finest is the Occ3D grid, each coarser one halves X, Y, Z), per level the voxel width ``channels[l]``,
    ``keep[l]`` voxels kept per sample, ``num_ref[l]`` reference heights per voxel (0: the level samples no
    image and refines the features its voxels inherit from their parents) and ``feature_map[l]`` the
    image map it samples (0 = the FPN's fine map at half the backbone stride, 1 = the backbone's output),
    ``num_offsets`` sampling offsets per reference point (scaled by ``offset_scale`` pixels of that map),
    sparse neighbour mixing among the candidates where ``mix[l]`` (off at the finest level of the tiny preset:
    its candidates are the most numerous, so mixing there costs the most CPU time). Mask decoder:
    ``num_queries`` queries of width ``query_dim``, ``mask_layers`` layers of ``heads`` heads. Loss weights:
    ``occ_weight`` (per-level BCE), ``cls_weight`` / ``mask_bce_weight`` / ``dice_weight`` (matched set loss,
    ``no_object_weight`` for unmatched queries), ``sem_weight`` (CE of the combined scores) with
    ``lovasz_weight`` on at most ``lovasz_max_voxels`` voxels, ``flow_weight``. Losses cover the voxels of
    ``loss_mask`` and, with ``lidar_observed``, also those the GT's LiDAR mask marks observed (e.g. the ground
    beside and under the ego that no camera sees, which the pruning would otherwise learn to drop). The
    per-level occupancy BCE weighs candidates with no observed voxel by ``occ_unobserved_weight`` (target 0;
    at weight 0 nothing stops them taking the kept budget: under the ground, behind surfaces). With
    ``gt_guided`` each level keeps its GT-occupied blocks first while training (``training_forward``)."""

    image_wh_px: tuple[int, int] = (256, 144)
    backbone_widths: tuple[int, ...] = (32, 64, 128)
    backbone_blocks: tuple[int, ...] = (1, 1, 1)
    img_dim: int = 64
    channels: tuple[int, ...] = (64, 64, 32, 32)
    keep: tuple[int, ...] = (800, 3000, 6000, 28000)
    num_ref: tuple[int, ...] = (4, 2, 1, 0)
    feature_map: tuple[int, ...] = (1, 1, 0, 0)
    mix: tuple[bool, ...] = (True, True, True, False)
    num_offsets: int = 2
    offset_scale: float = 2.0
    query_dim: int = 32
    num_queries: int = 24
    mask_layers: int = 2
    heads: int = 2
    occ_weight: float = 1.0
    cls_weight: float = 1.0
    mask_bce_weight: float = 2.0
    dice_weight: float = 2.0
    no_object_weight: float = 0.1
    sem_weight: float = 1.0
    lovasz_weight: float = 1.0
    lovasz_max_voxels: int = 50_000
    flow_weight: float = 0.5
    loss_mask: str = "camera"
    lidar_observed: bool = True
    gt_guided: bool = True
    occ_unobserved_weight: float = 1.0


SPARSEOCC_PRESETS = {
    "tiny": SparseOccConfig(),
    "base": SparseOccConfig(
        image_wh_px=(704, 256),
        backbone_widths=(64, 128, 256, 512),
        backbone_blocks=(2, 2, 2, 2),
        img_dim=256,
        channels=(256, 128, 64, 64),
        keep=(800, 3200, 12800, 32000),
        num_ref=(4, 2, 1, 1),
        num_offsets=4,
        query_dim=256,
        num_queries=100,
        mask_layers=6,
        heads=8,
    ),
}


def any_in_block(volume: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, X, Y, Z) bool -> (B, X/f, Y/f, Z/f) float: 1 where any voxel of the f^3 block is set."""
    v = volume.float().unsqueeze(1)
    return (F.max_pool3d(v, factor) if factor > 1 else v).squeeze(1)


def visible_occupied(sem: torch.Tensor, mask: torch.Tensor, free_index: int, factor: int) -> torch.Tensor:
    """(B, X, Y, Z) labels + loss mask -> (B, X/f, Y/f, Z/f) float: 1 where any voxel of the f^3 block is
    occupied and carries loss (the occupancy target of a pyramid level)."""
    return any_in_block((sem != free_index) & mask, factor)


def level_occupancy_loss(
    logits: torch.Tensor,
    candidates: torch.Tensor,
    sem: torch.Tensor,
    mask: torch.Tensor,
    free_index: int,
    factor: int,
    unobserved_weight: float,
) -> torch.Tensor:
    """Weighted mean BCE of a level's (B, M) candidate occupancy logits against ``visible_occupied`` blocks of
    the (B, X, Y, Z) labels + loss mask (blocks of ``factor``^3 voxels); candidates whose block has no observed
    voxel are negatives of weight ``unobserved_weight``, the others weigh 1."""
    target = gather_dense(visible_occupied(sem, mask, free_index, factor), candidates)
    observed = gather_dense(any_in_block(mask, factor), candidates)
    weight = observed + unobserved_weight * (1.0 - observed)
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum")
    return bce / weight.sum().clamp(min=1e-6)


class SparseOccModel(TorchOccModel):
    """Multi-camera occupancy: ResNet backbone, sparse coarse-to-fine voxel decoder, mask transformer decoder."""

    name = "sparseocc"
    inputs = frozenset({"cameras"})
    presets = SPARSEOCC_PRESETS
    config_cls = SparseOccConfig
    cameras = CAMERA_CHANNELS

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        n = len(cfg.channels)
        per_level = {"keep": cfg.keep, "num_ref": cfg.num_ref, "feature_map": cfg.feature_map, "mix": cfg.mix}
        for field, values in per_level.items():
            if len(values) != n:
                raise ValidationError(
                    f"SparseOccConfig: {field} {values} needs {n} entries (one per level of channels {cfg.channels})"
                )
        if any(f not in (0, 1) for f in cfg.feature_map):
            raise ValidationError(f"SparseOccConfig: feature_map {cfg.feature_map} entries must be 0 (fine) or 1")
        if cfg.num_ref[0] < 1 or min(cfg.num_ref) < 0:
            raise ValidationError(f"SparseOccConfig: num_ref {cfg.num_ref} must be >= 0, and >= 1 at level 0")
        shapes = level_shapes(self.grid.shape, n)
        budget = [int(np.prod(shapes[0]))] + [8 * k for k in cfg.keep[:-1]]
        for level, (k, m) in enumerate(zip(cfg.keep, budget)):
            if not 0 < k <= m:
                raise ValidationError(f"SparseOccConfig: keep[{level}] = {k} must be in 1..{m} (candidate voxels)")
        if cfg.num_queries < self.labels.num_classes:
            raise ValidationError(f"SparseOccConfig: num_queries {cfg.num_queries} < {self.labels.num_classes} classes")
        decoder = SparseVoxelDecoder(
            shapes,
            self.grid.range_min_m,
            self.grid.range_max_m,
            cfg.img_dim,
            cfg.channels,
            cfg.keep,
            cfg.num_ref,
            cfg.num_offsets,
            cfg.offset_scale,
            cfg.feature_map,
            cfg.mix,
        )
        return SparseOccNet(
            cfg.backbone_widths,
            cfg.backbone_blocks,
            cfg.img_dim,
            decoder,
            cfg.query_dim,
            cfg.num_queries,
            cfg.mask_layers,
            cfg.heads,
            self.labels.num_classes,
        )

    def kept_shares(self) -> list[float]:
        """Share of each level's voxels that the decoder keeps (coarsest first)."""
        shapes = level_shapes(self.grid.shape, len(self.config.channels))
        return [k / float(np.prod(s)) for k, s in zip(self.config.keep, shapes)]

    def sensor_request(self) -> SensorRequest:
        return SensorRequest(cameras=self.cameras, camera_wh_px=self.config.image_wh_px)

    def encode(self, frame: SensorFrame) -> Batch:
        return encode_cameras(frame, self.cameras, self.config.image_wh_px)

    def collate(self, samples: list[Batch]) -> Batch:
        return {k: torch.stack([s[k] for s in samples]) for k in ("images", "img_from_ego")}

    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        out = occupancy_targets(occupancy, self.grid, self.labels, self.config.loss_mask)
        if self.config.lidar_observed and occupancy.mask_lidar is not None:
            out["mask"] |= torch.from_numpy(occupancy.mask_lidar)
        return out

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return stack_occupancy_targets(samples)

    def training_forward(self, batch: Batch, targets: Batch) -> Batch:
        """With ``gt_guided``, every level keeps its GT-occupied blocks (``visible_occupied``) before the
        top-scoring rest: the finer levels and the mask decoder then train on the structures the pruning has
        not learned to keep yet (tall manmade, vegetation, vehicles), not only on the ground it keeps first."""
        if not self.config.gt_guided:
            return self.forward(batch)
        sem, mask = (targets[k].to(self.device) for k in ("sem", "mask"))
        n = len(self.config.channels)
        free = self.labels.free_index
        guides = [visible_occupied(sem, mask, free, 2 ** (n - 1 - lv)).flatten(1) > 0 for lv in range(n)]
        return self.forward({**batch, "guides": guides})

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        free = self.labels.free_index
        sem, flow, mask = (targets[k].to(self.device) for k in ("sem", "flow", "mask"))
        parts: dict[str, torch.Tensor] = {}
        levels = out["levels"]
        for level, lv in enumerate(levels):
            factor = 2 ** (len(levels) - 1 - level)
            parts[f"l{level}_occ"] = level_occupancy_loss(
                lv.occ_logits, lv.candidates, sem, mask, free, factor, cfg.occ_unobserved_weight
            )
        total = cfg.occ_weight * sum(parts.values())
        kept = out["kept"]
        labels, valid = gather_dense(sem, kept), gather_dense(mask, kept)
        for i, pred in enumerate(out["masks"]):
            ce, bce, dice = mask_set_loss(pred, labels, valid, cfg.no_object_weight)
            total = total + cfg.cls_weight * ce + cfg.mask_bce_weight * bce + cfg.dice_weight * dice
            parts.update({f"m{i}_cls": ce, f"m{i}_bce": bce, f"m{i}_dice": dice})
        scores = class_scores(out["masks"][-1]).clamp(min=1e-6).log()
        ce, lov = semantic_loss(
            scores, masked_target(labels, valid), self.class_weights, cfg.lovasz_weight, cfg.lovasz_max_voxels
        )
        fl = flow_l1(out["flow"].transpose(1, 2), gather_dense(flow, kept), valid & (labels != free))
        total = total + cfg.sem_weight * (ce + cfg.lovasz_weight * lov) + cfg.flow_weight * fl
        parts.update({"sem_ce": ce, "sem_lovasz": lov, "flow_l1": fl})
        return total, {k: float(v.detach()) for k, v in parts.items()}

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        kept = out["kept"][index]
        labels = combine_semantics(out["masks"][-1])[index]
        n = int(np.prod(self.grid.shape))
        sem = torch.full((n,), self.labels.free_index, dtype=torch.uint8, device=kept.device)
        sem[kept] = labels.to(torch.uint8)
        flow = torch.zeros(n, 2, dtype=torch.float32, device=kept.device)
        flow[kept] = torch.where((labels == self.labels.free_index).unsqueeze(-1), 0.0, out["flow"][index].float())
        return OccupancyPrediction(
            semantics=sem.view(self.grid.shape).cpu().numpy(),
            grid=self.grid,
            labels=self.labels,
            flow=np.ascontiguousarray(flow.view(*self.grid.shape, 2).cpu().numpy()),
        )
