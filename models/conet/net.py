"""CONet network (OpenOccupancy's Cascade Occupancy Network): camera branch + LiDAR branch -> adaptive fusion on
the coarse volume -> coarse occupancy head -> cascade refinement at the Occ3D resolution.

- Camera branch (``models.lss``, as ``bevdet_occ``): ResNet + FPN-LSS image encoder, LSS view transformer with a
  categorical depth per feature pixel splatted into the coarse volume (B, C_v, X/f, Y/f, Z/f), BEVDet-occ's 3D
  ResNet + FPN voxel encoder. Its module names equal ``BevDetOccNet``'s, so a ``bevdet_occ`` checkpoint with the
  same image and volume settings initialises it (``models.conet.init_branches``).
- LiDAR branch (``models.lidar``): the sparse 3D U-Net on spconv over the Occ3D voxels, densified to
  (B, C_l, X, Y, Z) (keys equal ``LidarOccNet.unet``'s).
- Each branch is projected to the coarse grid and ``fusion_channels`` (``fusion.BranchProjection``) and the two
  are mixed by adaptive per-voxel weights (``fusion.AdaptiveFusion``); a single-modality preset uses its branch.
- Coarse head: ``models.lidar.net.BevCompletionHead`` over the fused volume folded height-into-channels
  (B, C * Z/f, X/f, Y/f) -> (B, K, X/f, Y/f, Z/f) logits + (B, 2, ...) flow.
- Fine LiDAR head (LiDAR presets): ``models.lidar.net.BevCompletionHead`` over the LiDAR branch's fine features
  folded height-into-channels (B, C_l * Z, X, Y) -> (B, K + 2, X, Y, Z), the fine base prediction (keys equal
  ``LidarOccNet.head``'s). Camera-only presets take the upsampled coarse prediction as the base.
- Cascade (``cascade.CascadeRefiner``): fine voxels under coarse voxels predicted occupied are refined from
  features sampled from both branches (a residual on the base); the rest keep the base prediction.
"""

from __future__ import annotations

import torch
from torch import nn

from models.bevdet_occ.voxel_encoder import VoxelEncoder
from models.conet.cascade import CascadeRefiner, FineGrid
from models.conet.fusion import AdaptiveFusion, BranchProjection
from models.lidar.net import BevCompletionHead, SparseUNet
from models.lidar.voxelize import NUM_VOXEL_FEATURES
from models.lss.geometry import DepthBins
from models.lss.image_encoder import ImageEncoder
from models.lss.pool import PoolGrid
from models.lss.view_transformer import LSSViewTransformer
from models.spconv_cpu import cpu_single_thread, import_spconv

spconv = import_spconv()


class CameraBranch(nn.Module):
    """Images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> coarse volume (B, C0, X/f, Y/f, Z/f), image
    features (B, N, C_neck, Hf, Wf) and depth logits (B, N, D, Hf, Wf)."""

    def __init__(
        self,
        widths: tuple[int, ...],
        blocks: tuple[int, ...],
        neck_channels: int,
        bins: DepthBins,
        volume: PoolGrid,
        voxel_channels: tuple[int, int],
    ) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(widths, blocks, neck_channels)
        self.view_transformer = LSSViewTransformer(
            neck_channels, voxel_channels[0], bins, volume, self.image_encoder.stride
        )
        self.voxel_encoder = VoxelEncoder(*voxel_channels)

    def forward(
        self, images: torch.Tensor, img_from_ego: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n = images.shape[:2]
        feats = self.image_encoder(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        volume, depth_logits = self.view_transformer(feats, img_from_ego)
        return self.voxel_encoder(volume), feats, depth_logits


class CONetNet(nn.Module):
    """See the module docstring. ``camera`` / ``lidar`` is None for a preset without that modality; ``lidar_bev``
    = (channels, blocks) of the fine LiDAR head."""

    def __init__(
        self,
        camera: CameraBranch | None,
        camera_channels: int,
        lidar_channels: tuple[int, ...] | None,
        lidar_blocks: int,
        lidar_bev: tuple[int, int],
        fine: FineGrid,
        factor: int,
        fusion_channels: int,
        bev_channels: int,
        bev_blocks: int,
        image_sample_channels: int,
        refine_hidden: int,
        num_classes: int,
        free_index: int,
    ) -> None:
        super().__init__()
        self.factor, self.fine = factor, fine
        self.camera = camera
        if camera is not None:
            self.camera_proj = BranchProjection(camera_channels, fusion_channels, 1)
            self.image_sample = nn.Conv2d(camera.view_transformer.depth_net[1].in_channels, image_sample_channels, 1)
        self.lidar = SparseUNet(NUM_VOXEL_FEATURES, lidar_channels, lidar_blocks) if lidar_channels else None
        if self.lidar is not None:
            self.lidar_proj = BranchProjection(lidar_channels[0], fusion_channels, factor)
            z = fine.shape[2]
            self.lidar_head = BevCompletionHead(lidar_channels[0] * z, *lidar_bev, z, num_classes)
        self.fusion = AdaptiveFusion(fusion_channels) if camera is not None and self.lidar is not None else None
        zc = fine.shape[2] // factor
        self.coarse_head = BevCompletionHead(fusion_channels * zc, bev_channels, bev_blocks, zc, num_classes)
        self.cascade = CascadeRefiner(
            fine,
            factor,
            fusion_channels,
            lidar_channels[0] if lidar_channels else 0,
            image_sample_channels if camera is not None else 0,
            refine_hidden,
            num_classes,
            free_index,
        )

    def lidar_features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sparse U-Net over the LiDAR voxels -> dense (B, C_l, X, Y, Z) on the Occ3D grid."""
        x = spconv.SparseConvTensor(
            batch["voxel_features"], batch["voxel_coords"], list(self.fine.shape), int(batch["batch_size"])
        )
        with cpu_single_thread(not x.features.is_cuda):
            return self.lidar(x).dense()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``sem_logits`` (B, K, X, Y, Z), ``flow`` (B, 2, X, Y, Z), coarse ``coarse_sem_logits`` /
        ``coarse_flow`` (B, K | 2, X/f, Y/f, Z/f), ``fusion_weight`` (B, 1, X/f, Y/f, Z/f) (both branches),
        ``depth_logits`` (camera presets), ``refined`` / ``coarse_occupied`` (B,) voxel counts."""
        out: dict[str, torch.Tensor] = {}
        volumes, lidar_fine, base, feats, img_from_ego, image_hw = [], None, None, None, None, (0, 0)
        if self.camera is not None:
            images, img_from_ego = batch["images"], batch["img_from_ego"]
            cam_volume, image_feats, out["depth_logits"] = self.camera(images, img_from_ego)
            volumes.append(self.camera_proj(cam_volume))
            feats = self.image_sample(image_feats.flatten(0, 1)).unflatten(0, image_feats.shape[:2])
            image_hw = tuple(images.shape[-2:])
        if self.lidar is not None:
            lidar_fine = self.lidar_features(batch)
            volumes.append(self.lidar_proj(lidar_fine))
            b, c, nx, ny, nz = lidar_fine.shape
            base = torch.cat(self.lidar_head(lidar_fine.permute(0, 1, 4, 2, 3).reshape(b, c * nz, nx, ny)), 1)
        if self.fusion is not None:
            fused, out["fusion_weight"] = self.fusion(*volumes)
        else:
            fused = volumes[0]
        b, c, nx, ny, nz = fused.shape
        sem, flow = self.coarse_head(fused.permute(0, 1, 4, 2, 3).reshape(b, c * nz, nx, ny))
        out["coarse_sem_logits"], out["coarse_flow"] = sem, flow
        out.update(self.cascade(torch.cat([sem, flow], 1), fused, lidar_fine, feats, img_from_ego, image_hw, base))
        return out
