"""The ``renderocc`` perception plugin (RenderOcc, Pan et al., ICRA 2024): six cameras -> a semantic density
field on the Occ3D 200x200x16 grid, trained only from 2D labels.

Parts: the LSS camera volume of ``models.lss`` / BEVDet-occ (``net``), the semantic density head (``field``:
per-voxel density sigma and class logits), ray sampling (``rays``) and NeRF-style volume rendering
(``render``) of per-pixel semantics and depth.

Training supervises the renderings only. No 3D occupancy label is read: ``targets`` never touches its
``occupancy`` argument, and class weights come from the 2D labels (``image_label_counts``). Losses:
- rendered semantics: class-weighted cross-entropy against the per-pixel semantic images (``labels``);
- ray termination: cross-entropy of the render weights plus background, the weight within
  ``termination_window`` samples of the one holding the projected keyframe LiDAR depth (sky pixels end in
  the background), and rendered depth (L1) against that LiDAR depth (``targets``);
- the LSS depth net's LiDAR depth cross-entropy (BEVDepth).
Auxiliary rays (RenderOcc's multi-frame supervision): the cameras of the two previous keyframes
(``history_keyframes = 2``, 1 s back), moved into this keyframe's ego frame by the ego poses, render the same
field against their semantic images (movable classes ignored, sky as free); they reach ground that is under
or beside the ego now. Those keyframes' LiDAR is not in the dataset's history, so auxiliary rays carry no
depth target.

Inference: class = argmax of the logits where the voxel's opacity ``1 - exp(-sigma * voxel_size)`` reaches
``occupied_alpha``, else free; flow is not predicted (zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.losses import IGNORE
from models.lss.camera_model import LssOccModel, img_from_ego
from models.lss.depth import NO_DEPTH, depth_loss, depth_targets
from models.lss.geometry import DepthBins
from models.lss.pool import PoolGrid
from models.renderocc.labels import general_to_occ3d, ray_pixel_labels, semantic_path, without_movable
from models.renderocc.net import RenderOccNet
from models.renderocc.render import RenderedRays
from models.renderocc.targets import lidarseg_to_occ3d, projected_point_labels, termination_targets
from models.torch_base import Batch
from models.voxel_decode import decode_voxels
from occplan.errors import ValidationError
from occplan.types import CameraFrame, OccupancyFrame, OccupancyPrediction, SensorFrame


@dataclass(frozen=True)
class RenderOccConfig:
    """Images resized to ``image_wh_px``; image encoder, LSS depth bins and voxel volume as
    ``models.bevdet_occ.model.BevDetOccConfig``; rays every ``ray_stride_px`` pixels of the resized image,
    sampled from ``render_near_m`` to ``render_far_m`` camera depth every ``render_step_m``; the density
    starts near ``softplus(init_density_logit)`` 1/m; a voxel is occupied at inference when its opacity
    reaches ``occupied_alpha`` (0.2: the best occ/miou of 0.1 to 0.5 on ten generated train-split keyframes with
    the shipped tiny weights); a ray's termination counts the render weights within ``termination_window``
    samples of its LiDAR sample; loss weights of the rendered semantics, termination, rendered depth (L1 in
    units of ``render_far_m``), auxiliary rays and the LSS depth net."""

    image_wh_px: tuple[int, int] = (256, 144)
    backbone_widths: tuple[int, ...] = (32, 48, 64, 128)
    backbone_blocks: tuple[int, ...] = (1, 1, 1, 1)
    neck_channels: int = 64
    depth_min_m: float = 1.0
    depth_max_m: float = 45.0
    depth_step_m: float = 1.0
    voxel_channels: tuple[int, int] = (16, 32)
    up_factor: int = 2
    up_channels: int = 8
    ray_stride_px: int = 8
    render_near_m: float = 0.5
    render_far_m: float = 60.5
    render_step_m: float = 0.4
    init_density_logit: float = -3.0
    occupied_alpha: float = 0.2
    semantic_weight: float = 1.0
    termination_weight: float = 1.0
    depth_l1_weight: float = 1.0
    termination_window: int = 1
    aux_weight: float = 0.5
    depth_weight: float = 0.5


RENDEROCC_PRESETS = {
    "tiny": RenderOccConfig(),
    "base": RenderOccConfig(
        image_wh_px=(704, 256),
        backbone_widths=(64, 64, 128, 256, 512),
        backbone_blocks=(1, 2, 2, 2, 2),
        neck_channels=256,
        depth_step_m=0.5,
        voxel_channels=(32, 64),
        up_factor=1,
        up_channels=32,
        ray_stride_px=8,
        render_step_m=0.2,
    ),
}


def termination_probability(
    weights: torch.Tensor, background: torch.Tensor, target: torch.Tensor, window: int
) -> torch.Tensor:
    """(V,) probability that each of V rays ends where its target says: the sum of its render weights (V, S)
    over samples ``target - window`` to ``target + window``, or its ``background`` (V,) when ``target == S``."""
    s = weights.shape[1]
    cum = F.pad(weights.cumsum(1), (1, 0))  # cum[:, i] = sum of the first i weights
    hi = (target + window + 1).clamp(max=s)
    lo = (target - window).clamp(min=0, max=s)
    inside = cum.gather(1, hi[:, None])[:, 0] - cum.gather(1, lo[:, None])[:, 0]
    return torch.where(target >= s, background, inside)


class RenderOccModel(LssOccModel):
    """Multi-camera semantic density field trained by volume rendering against 2D labels."""

    name = "renderocc"
    presets = RENDEROCC_PRESETS
    config_cls = RenderOccConfig
    history_keyframes = 2
    trains_from_2d_labels = True
    """``models.train`` takes class weights from ``image_label_counts`` (2D labels), not from 3D label counts."""

    # --- geometry -------------------------------------------------------------------------
    @property
    def render_bins(self) -> DepthBins:
        cfg = self.config
        return DepthBins(cfg.render_near_m, cfg.render_far_m, cfg.render_step_m)

    @property
    def ray_hw(self) -> tuple[int, int]:
        w, h = self.config.image_wh_px
        s = self.config.ray_stride_px
        if w % s or h % s:
            raise ValidationError(f"{self.name} config: image_wh_px {(w, h)} must be multiples of ray_stride_px {s}")
        return h // s, w // s

    @property
    def output_grid(self) -> PoolGrid:
        return PoolGrid(self.grid.range_min_m, self.grid.range_max_m, self.grid.shape)

    @property
    def num_field_classes(self) -> int:
        """Classes of the field's logits: every Occ3D class but free (the last)."""
        return self.labels.num_classes - 1

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        f = cfg.up_factor
        if self.labels.free_index != self.labels.num_classes - 1:
            raise ValidationError(f"{self.name}: the free class must be the last label")
        if any(s % (2 * f) for s in self.grid.shape):
            raise ValidationError(f"RenderOccConfig: up_factor {f} x 2 must divide the grid {self.grid.shape}")
        self.feature_hw  # noqa: B018 (validates image_wh_px against the backbone)
        volume = PoolGrid(self.grid.range_min_m, self.grid.range_max_m, tuple(s // f for s in self.grid.shape))
        return RenderOccNet(
            cfg.backbone_widths,
            cfg.backbone_blocks,
            cfg.neck_channels,
            self.depth_bins,
            volume,
            cfg.voxel_channels,
            f,
            cfg.up_channels,
            self.num_field_classes,
            cfg.init_density_logit,
            self.output_grid,
            self.ray_hw,
            cfg.ray_stride_px,
            self.render_bins,
        )

    # --- inputs -----------------------------------------------------------------------------
    def encode(self, frame: SensorFrame) -> Batch:
        """``images``, ``img_from_ego`` (``LssOccModel.encode``), ``world_from_ego`` (4, 4) float64 and the
        ``cameras`` (CameraFrames, for the auxiliary rays' semantic images when this is a history frame)."""
        by_channel = {c.channel: c for c in frame.cameras}
        return {
            **super().encode(frame),
            "world_from_ego": torch.from_numpy(frame.world_from_ego.matrix.astype(np.float64)),
            "cameras": tuple(by_channel[ch] for ch in self.cameras),
        }

    def collate(self, samples: list[Batch]) -> Batch:
        """Stacked ``images`` and ``img_from_ego``; when the samples carry a ``history`` (training), the
        auxiliary rays of each one's previous keyframes (``auxiliary_rays``): ``aux_img_from_ego``
        (B, H * N, 3, 4) in the sample's ego frame and ``aux_labels`` (B, H * N, R)."""
        batch = {k: torch.stack([s[k] for s in samples]) for k in ("images", "img_from_ego")}
        if any("history" in s for s in samples):
            aux = [self.auxiliary_rays(s) for s in samples]
            batch["aux_img_from_ego"] = torch.stack([a for a, _ in aux])
            batch["aux_labels"] = torch.stack([b for _, b in aux])
        return batch

    def auxiliary_rays(self, sample: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(H * N, 3, 4) projections of the cameras of the H = ``history_keyframes`` previous keyframes (oldest
        first) from this keyframe's ego frame and their (H * N, R) ray labels (movable classes ignored); a
        keyframe missing at the scene's start has this keyframe's projections and all-IGNORE labels."""
        n, r = len(self.cameras), self.ray_hw[0] * self.ray_hw[1]
        history = sample.get("history") or []
        missing = self.history_keyframes - len(history)
        projs = [sample["img_from_ego"]] * missing
        labels = [torch.full((n, r), IGNORE, dtype=torch.int64)] * missing
        for prev in history:
            prev_from_cur = torch.linalg.inv(prev["world_from_ego"]) @ sample["world_from_ego"]
            projs.append((prev["img_from_ego"].double() @ prev_from_cur).float())
            labels.append(torch.from_numpy(np.stack([without_movable(self.ray_labels(c)) for c in prev["cameras"]])))
        return torch.cat(projs), torch.cat(labels)

    def ray_labels(self, cam: CameraFrame) -> np.ndarray:
        """(R,) Occ3D labels of ``cam``'s rays from its semantic image (``labels.ray_pixel_labels``)."""
        return ray_pixel_labels(
            cam, self.ray_hw, self.config.ray_stride_px, self.config.image_wh_px, general_to_occ3d()
        )

    def forward(self, batch: Batch) -> Batch:
        """The net's output; in training it also carries the batch's ``aux_labels``."""
        out = super().forward(batch)
        if "aux_labels" in batch and "aux_rendered" in out:
            out["aux_labels"] = batch["aux_labels"]
        return out

    # --- targets (2D only) ----------------------------------------------------------------------
    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        """2D targets of the keyframe's rays (``models.renderocc.targets``): ``ray_labels`` and ``termination``
        (N, R) int64, and the LSS depth net's ``depth`` (N, Hf, Wf). ``occupancy`` is not read: RenderOcc
        trains without 3D labels. Cameras without a semantic image take the projected ``lidarseg`` labels."""
        cfg = self.config
        by_channel = {c.channel: c for c in frame.cameras}
        cams = [by_channel[ch] for ch in self.cameras]
        projs = np.stack([img_from_ego(c, cfg.image_wh_px) for c in cams])
        pts = np.zeros((0, 3))
        seg = np.zeros(0, dtype=np.int64)
        if frame.lidar is not None:
            key = frame.lidar.sweep_index == 0
            pts = frame.lidar.points[key, :3]
            if lidarseg is not None:
                seg = lidarseg_to_occ3d(lidarseg)
        projected = None
        labels = []
        for i, cam in enumerate(cams):
            if (cam.image_path is not None and semantic_path(cam).is_file()) or lidarseg is None:
                labels.append(self.ray_labels(cam))
                continue
            if projected is None:
                projected = projected_point_labels(pts, seg, projs, self.ray_hw, cfg.ray_stride_px)
            labels.append(projected[i])
        ray_labels = np.stack(labels)
        term = termination_targets(
            pts,
            projs,
            ray_labels,
            self.ray_hw,
            cfg.ray_stride_px,
            self.render_bins,
            self.output_grid,
            self.labels.free_index,
        )
        depth = depth_targets(pts, projs, self.feature_hw, self.feature_stride, self.depth_bins)
        return {
            "ray_labels": torch.from_numpy(ray_labels),
            "termination": torch.from_numpy(term),
            "depth": torch.from_numpy(depth),
        }

    def collate_targets(self, samples: list[Batch]) -> Batch:
        return {k: torch.stack([s[k] for s in samples]) for k in ("ray_labels", "termination", "depth")}

    def image_label_counts(self, source, frames) -> np.ndarray:
        """(num_classes,) counts of the Occ3D ray labels of ``frames``' semantic images (class weights)."""
        counts = np.zeros(self.labels.num_classes, dtype=np.int64)
        for f in frames:
            sensor = source.sensor_frame(f, self.sensor_request())
            for cam in sensor.cameras:
                lab = self.ray_labels(cam)
                counts += np.bincount(lab[lab != IGNORE], minlength=self.labels.num_classes)[: self.labels.num_classes]
        return counts

    # --- loss ---------------------------------------------------------------------------------
    def ray_losses(
        self, rendered: RenderedRays, labels: torch.Tensor, termination: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(semantic CE, termination CE, depth L1 / far) of rendered rays (B, N, R) against their labels and
        termination targets (0 with gradient where no ray has one)."""
        k = self.num_field_classes
        labels, termination = labels.to(self.device), termination.to(self.device)
        sem_valid = labels < k
        zero = rendered.class_probs.sum() * 0.0
        ce = zero
        if bool(sem_valid.any()):
            logp = rendered.class_probs[sem_valid].clamp(min=1e-6).log()
            ce = F.nll_loss(logp, labels[sem_valid], weight=self.class_weights[:k].to(self.device))
        t_valid = termination != NO_DEPTH
        term, l1 = zero, zero
        if bool(t_valid.any()):
            t = termination[t_valid]
            term = (
                -termination_probability(
                    rendered.weights[t_valid], rendered.background[t_valid], t, self.config.termination_window
                )
                .clamp(min=1e-6)
                .log()
                .mean()
            )
            far = self.config.render_far_m
            target_m = torch.cat([self.render_bins.centers_m(self.device), torch.tensor([far], device=self.device)])
            l1 = ((rendered.depth_m[t_valid] - target_m[t]).abs() / far).mean()
        return ce, term, l1

    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ce, term, l1 = self.ray_losses(out["rendered"], targets["ray_labels"], targets["termination"])
        total = cfg.semantic_weight * ce + cfg.termination_weight * term + cfg.depth_l1_weight * l1
        parts = {"sem_ce": float(ce.detach()), "term_ce": float(term.detach()), "depth_l1": float(l1.detach())}
        if "aux_rendered" in out:
            aux_labels = out["aux_labels"]
            aux_term = torch.where(aux_labels == self.labels.free_index, self.render_bins.num, NO_DEPTH)
            a_ce, a_term, _ = self.ray_losses(out["aux_rendered"], aux_labels, aux_term)
            total = total + cfg.aux_weight * (cfg.semantic_weight * a_ce + cfg.termination_weight * a_term)
            parts |= {"aux_sem_ce": float(a_ce.detach()), "aux_term_ce": float(a_term.detach())}
        dl = depth_loss(out["depth_logits"], targets["depth"])
        total = total + cfg.depth_weight * dl
        return total, {**parts, "depth_ce": float(dl.detach())}

    # --- inference ----------------------------------------------------------------------------
    def occupied(self, density: torch.Tensor) -> torch.Tensor:
        """Voxels whose opacity ``1 - exp(-sigma * voxel_size)`` reaches ``occupied_alpha``."""
        return 1.0 - torch.exp(-density * self.grid.voxel_size_m) >= self.config.occupied_alpha

    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        density, logits = out["density"][index], out["sem_logits"][index]
        no_flow = np.zeros((0, *logits.shape[1:]), np.float32)
        labels, _ = decode_voxels(logits.float().cpu().numpy(), no_flow, free_index=None)  # argmax, one pass
        sem = np.where(self.occupied(density).cpu().numpy(), labels, np.uint8(self.labels.free_index))
        return OccupancyPrediction(
            semantics=sem,
            grid=self.grid,
            labels=self.labels,
            flow=np.zeros((*self.grid.shape, 2), dtype=np.float32),
        )
