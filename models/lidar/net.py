"""LiDAR occupancy network: sparse 3D U-Net (spconv) + dense BEV completion head + point head.

Input: a batched sparse tensor of voxel features at ``input_voxel_m`` over the Occ3D range.
The U-Net (submanifold convs, strided sparse convs down, inverse convs up with skip concatenation)
yields per-voxel features at the input resolution. They are pooled to the 0.4 m output grid when the
input is finer, densified to (B, C, X, Y, Z), folded height-into-channels (B, C*Z, X, Y) and completed
by a 2-D residual encoder-decoder whose 1x1 output unfolds to (B, 18, X, Y, Z) semantic logits and
(B, 2, X, Y, Z) flow (m/s, ego frame). The point head classifies each keyframe point (17 lidarseg
challenge logits, 0 = ignore) from its voxel's U-Net feature and its own local features.
"""

from __future__ import annotations

import torch
from torch import nn

from models.lidar.voxelize import NUM_POINT_FEATURES, NUM_VOXEL_FEATURES
from models.spconv_cpu import cpu_single_thread, import_spconv

spconv = import_spconv()

NUM_POINT_CLASSES = 17


def _subm_block(c_in: int, c_out: int, key: str) -> spconv.SparseSequential:
    return spconv.SparseSequential(
        spconv.SubMConv3d(c_in, c_out, 3, padding=1, bias=False, indice_key=key),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    )


class SparseResBlock(spconv.SparseModule):
    """Two submanifold 3x3x3 convs with a residual connection."""

    def __init__(self, channels: int, key: str) -> None:
        super().__init__()
        self.conv1 = _subm_block(channels, channels, key)
        self.conv2 = spconv.SubMConv3d(channels, channels, 3, padding=1, bias=False, indice_key=key)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return y.replace_feature(torch.relu(self.bn2(y.features) + x.features))


class SparseUNet(nn.Module):
    """Sparse 3D U-Net. ``channels[l]`` is the width at level l (stride 2**l)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], blocks: int) -> None:
        super().__init__()
        self.stem = _subm_block(in_channels, channels[0], "subm0")
        self.enc0 = spconv.SparseSequential(*[SparseResBlock(channels[0], "subm0") for _ in range(blocks)])
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for lvl in range(1, len(channels)):
            c_prev, c = channels[lvl - 1], channels[lvl]
            self.down.append(
                spconv.SparseSequential(
                    spconv.SparseConv3d(c_prev, c, 3, stride=2, padding=1, bias=False, indice_key=f"down{lvl}"),
                    nn.BatchNorm1d(c),
                    nn.ReLU(inplace=True),
                )
            )
            self.enc.append(spconv.SparseSequential(*[SparseResBlock(c, f"subm{lvl}") for _ in range(blocks)]))
            self.up.append(
                spconv.SparseSequential(
                    spconv.SparseInverseConv3d(c, c_prev, 3, bias=False, indice_key=f"down{lvl}"),
                    nn.BatchNorm1d(c_prev),
                    nn.ReLU(inplace=True),
                )
            )
            self.dec.append(_subm_block(2 * c_prev, c_prev, f"subm{lvl - 1}"))

    def forward(self, x):
        x = self.enc0(self.stem(x))
        skips = [x]
        for down, enc in zip(self.down, self.enc):
            x = enc(down(x))
            skips.append(x)
        for lvl in range(len(self.up) - 1, -1, -1):
            up = self.up[lvl](x)
            skip = skips[lvl]
            x = self.dec[lvl](up.replace_feature(torch.cat([up.features, skip.features], dim=1)))
        return x


class ResBlock2d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class BevCompletionHead(nn.Module):
    """(B, C*Z, X, Y) -> per-height semantic logits and flow.

    A 1x1 projection at full resolution, residual blocks at half resolution (2x the width), a transposed
    convolution back up added to the projection, one 3x3 convolution and a 1x1 output unfolding to
    (B, K, X, Y, Z) logits and (B, 2, X, Y, Z) flow."""

    def __init__(self, in_channels: int, channels: int, blocks: int, height: int, num_classes: int) -> None:
        super().__init__()
        self.height, self.num_classes = height, num_classes
        c2 = 2 * channels
        self.inp = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(True)
        )
        self.down = nn.Sequential(
            nn.Conv2d(channels, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True)
        )
        self.mid = nn.Sequential(*[ResBlock2d(c2) for _ in range(blocks)])
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c2, channels, 2, stride=2, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )
        self.dec = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )
        self.out = nn.Conv2d(channels, height * (num_classes + 2), 1)

    def forward(self, bev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inp(bev)
        y = self.up(self.mid(self.down(x)))
        y = self.dec(y[..., : x.shape[-2], : x.shape[-1]] + x)
        b, _, nx, ny = y.shape
        o = self.out(y).view(b, self.height, self.num_classes + 2, nx, ny).permute(0, 2, 3, 4, 1)
        return o[:, : self.num_classes].contiguous(), o[:, self.num_classes :].contiguous()


class LidarOccNet(nn.Module):
    """Sparse U-Net + BEV completion (semantics, flow) + point head.

    ``spatial_shape`` is the input voxel grid (X, Y, Z); ``pool`` the integer ratio between the output
    voxel (0.4 m) and the input voxel.
    """

    def __init__(
        self,
        spatial_shape: tuple[int, int, int],
        pool: int,
        channels: tuple[int, ...],
        blocks: int,
        bev_channels: int,
        bev_blocks: int,
        point_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.spatial_shape = list(spatial_shape)
        self.unet = SparseUNet(NUM_VOXEL_FEATURES, channels, blocks)
        c0 = channels[0]
        self.pool = (
            spconv.SparseSequential(
                spconv.SparseConv3d(c0, c0, pool, stride=pool, bias=False, indice_key="pool"),
                nn.BatchNorm1d(c0),
                nn.ReLU(inplace=True),
            )
            if pool > 1
            else None
        )
        self.out_height = spatial_shape[2] // pool
        self.head = BevCompletionHead(c0 * self.out_height, bev_channels, bev_blocks, self.out_height, num_classes)
        self.point_in = nn.Sequential(nn.Linear(NUM_POINT_FEATURES, point_channels), nn.ReLU(inplace=True))
        self.point_head = nn.Sequential(
            nn.Linear(c0 + point_channels, point_channels),
            nn.BatchNorm1d(point_channels),
            nn.ReLU(inplace=True),
            nn.Linear(point_channels, NUM_POINT_CLASSES),
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``batch``: voxel_features (V, 9), voxel_coords (V, 4) int32 [b, x, y, z], batch_size (python int),
        point_features (P, 5), point_voxel (P,) int64 row into the voxels (-1 = outside the grid)."""
        x = spconv.SparseConvTensor(
            batch["voxel_features"], batch["voxel_coords"], self.spatial_shape, int(batch["batch_size"])
        )
        with cpu_single_thread(not x.features.is_cuda):
            feats = self.unet(x)
            out = self.pool(feats) if self.pool is not None else feats
            dense = out.dense()  # (B, C, X, Y, Z)
        b, c, nx, ny, nz = dense.shape
        bev = dense.permute(0, 1, 4, 2, 3).reshape(b, c * nz, nx, ny)
        sem, flow = self.head(bev)

        pv = batch["point_voxel"]
        voxel_feat = feats.features[pv.clamp(min=0)] * (pv >= 0).unsqueeze(1).to(feats.features.dtype)
        point_logits = self.point_head(torch.cat([voxel_feat, self.point_in(batch["point_features"])], dim=1))
        return {"sem_logits": sem, "flow": flow, "point_logits": point_logits}
