"""BEV encoder: learned BEV queries attend to multi-camera features through BEVFormer-style spatial
cross-attention, reduced to a single feature scale and a single head, without the temporal
self-attention (a 3x3 convolution mixes neighbouring queries instead).

Each BEV query (a pillar centred on its cell, ego frame) owns ``num_ref`` reference points at fixed
heights. They are projected into every camera with ``img_from_ego``; in each camera where a reference
point lands in the image, ``num_offsets`` learned offsets around it are sampled bilinearly
(``grid_sample``) and combined with learned softmax weights; the result is averaged over the cameras
that see the pillar (BEVFormer's SCA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pillar_reference_points(
    bev_shape: tuple[int, int],
    range_min_m: tuple[float, float, float],
    range_max_m: tuple[float, float, float],
    num_ref: int,
) -> torch.Tensor:
    """(X*Y, num_ref, 3) ego-frame points: cell centres of the BEV grid (x-major, like ``view(X*Y)`` of an
    [x, y] grid) at ``num_ref`` heights evenly spread inside the z range."""
    nx, ny = bev_shape
    xs = torch.linspace(range_min_m[0], range_max_m[0], nx + 1)[:-1] + (range_max_m[0] - range_min_m[0]) / nx / 2
    ys = torch.linspace(range_min_m[1], range_max_m[1], ny + 1)[:-1] + (range_max_m[1] - range_min_m[1]) / ny / 2
    dz = (range_max_m[2] - range_min_m[2]) / num_ref
    zs = range_min_m[2] + dz * (torch.arange(num_ref, dtype=torch.float32) + 0.5)
    gx, gy, gz = torch.meshgrid(xs, ys, zs, indexing="ij")
    return torch.stack([gx, gy, gz], dim=-1).reshape(nx * ny, num_ref, 3)


def project_to_cameras(
    points_ego: torch.Tensor, img_from_ego: torch.Tensor, image_hw: tuple[int, int], min_depth_m: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project (Q, P, 3) ego points with (B, N, 3, 4) matrices into images of size (H, W).

    Returns normalised ``grid_sample`` coordinates (B, N, Q, P, 2) (align_corners=False; pixel centres at
    integer pixel coordinates) and a validity mask (B, N, Q, P): in front of the camera and inside the image.
    """
    h, w = image_hw
    homo = torch.cat([points_ego, torch.ones_like(points_ego[..., :1])], dim=-1)  # (Q, P, 4)
    cam = torch.einsum("bnij,qpj->bnqpi", img_from_ego, homo)
    depth = cam[..., 2]
    uv = cam[..., :2] / depth.clamp(min=min_depth_m).unsqueeze(-1)
    norm = torch.stack([(uv[..., 0] + 0.5) / w * 2 - 1, (uv[..., 1] + 0.5) / h * 2 - 1], dim=-1)
    valid = (depth > min_depth_m) & (norm.abs() <= 1).all(-1)
    return norm, valid


class SpatialCrossAttention(nn.Module):
    """Deformable single-scale, single-head cross-attention from BEV queries to camera features."""

    def __init__(self, dim: int, num_ref: int, num_offsets: int, offset_scale: float) -> None:
        super().__init__()
        self.num_ref, self.num_offsets, self.offset_scale = num_ref, num_offsets, offset_scale
        self.offsets = nn.Linear(dim, num_ref * num_offsets * 2)
        self.weights = nn.Linear(dim, num_ref * num_offsets)
        self.value = nn.Conv2d(dim, dim, 1)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.offsets.weight)
        with torch.no_grad():  # start with offsets on a small ring around each reference point
            ang = torch.arange(num_offsets, dtype=torch.float32) * (2 * torch.pi / num_offsets)
            ring = torch.stack([ang.cos(), ang.sin()], dim=-1) * (0.5 if num_offsets > 1 else 0.0)
            self.offsets.bias.copy_(ring.repeat(num_ref, 1).reshape(-1))

    def forward(self, query: torch.Tensor, ref: torch.Tensor, valid: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """query (B, Q, C); ref (B, N, Q, P, 2) normalised image coordinates; valid (B, N, Q, P) bool;
        feats (B, N, C, h, w) camera features. Returns (B, Q, C)."""
        b, q, c = query.shape
        n, fh, fw = feats.shape[1], feats.shape[3], feats.shape[4]
        p, k = self.num_ref, self.num_offsets
        # offsets are predicted in feature-map pixels and scaled to normalised coordinates
        off = self.offsets(query).view(b, q, p, k, 2) * self.offset_scale
        off = off * torch.tensor([2.0 / fw, 2.0 / fh], device=query.device, dtype=query.dtype)
        attn = self.weights(query).view(b, q, p * k).softmax(-1).view(b, q, p, k)
        value = self.value(feats.flatten(0, 1)).view(b, n, c, fh, fw)
        acc = query.new_zeros(b, c, q)
        for cam in range(n):  # loop over the (six) cameras, never over queries or points
            loc = (ref[:, cam].unsqueeze(3) + off).view(b, q, p * k, 2)
            sampled = F.grid_sample(value[:, cam], loc, mode="bilinear", padding_mode="zeros", align_corners=False)
            w = (attn * valid[:, cam].unsqueeze(-1).to(attn.dtype)).view(b, q, p * k)
            acc = acc + torch.einsum("bcqj,bqj->bcq", sampled, w)  # a batched product: 2x a mul + sum(-1)
        hits = valid.any(-1).sum(1).clamp(min=1).to(query.dtype)  # (B, Q) cameras seeing each pillar
        return self.out((acc / hits.unsqueeze(1)).transpose(1, 2))


class BevEncoderLayer(nn.Module):
    """Conv mixing of neighbouring queries, spatial cross-attention, feed-forward; post-norm residuals."""

    def __init__(
        self, dim: int, bev_shape: tuple[int, int], num_ref: int, num_offsets: int, offset_scale: float
    ) -> None:
        super().__init__()
        self.bev_shape = bev_shape
        self.mix = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm0 = nn.LayerNorm(dim)
        self.sca = SpatialCrossAttention(dim, num_ref, num_offsets, offset_scale)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, query, pos, ref, valid, feats):
        b, _, c = query.shape
        grid = query.transpose(1, 2).reshape(b, c, *self.bev_shape)
        query = self.norm0(query + self.mix(grid).flatten(2).transpose(1, 2))
        query = self.norm1(query + self.sca(query + pos, ref, valid, feats))
        return self.norm2(query + self.ffn(query))


class BevEncoder(nn.Module):
    """Learned BEV queries (X*Y, C) + positional embedding, refined by ``num_layers`` encoder layers.

    Output (B, C, X, Y) BEV features on the ego-frame grid (x index first)."""

    def __init__(
        self,
        dim: int,
        bev_shape: tuple[int, int],
        range_min_m: tuple[float, float, float],
        range_max_m: tuple[float, float, float],
        num_layers: int,
        num_ref: int,
        num_offsets: int,
        offset_scale: float,
    ) -> None:
        super().__init__()
        self.bev_shape = bev_shape
        q = bev_shape[0] * bev_shape[1]
        self.queries = nn.Parameter(torch.randn(q, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(q, dim) * 0.02)
        self.register_buffer(
            "ref_ego", pillar_reference_points(bev_shape, range_min_m, range_max_m, num_ref), persistent=False
        )
        self.layers = nn.ModuleList(
            BevEncoderLayer(dim, bev_shape, num_ref, num_offsets, offset_scale) for _ in range(num_layers)
        )

    def forward(self, feats: torch.Tensor, img_from_ego: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """feats (B, N, C, h, w); img_from_ego (B, N, 3, 4) for images of size ``image_hw``."""
        b = feats.shape[0]
        ref, valid = project_to_cameras(self.ref_ego, img_from_ego, image_hw)
        query = self.queries.unsqueeze(0).expand(b, -1, -1)
        pos = self.pos.unsqueeze(0)
        for layer in self.layers:
            query = layer(query, pos, ref, valid, feats)
        return query.transpose(1, 2).reshape(b, -1, *self.bev_shape)
