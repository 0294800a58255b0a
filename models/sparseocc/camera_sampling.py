"""Sparse camera sampling: image features gathered only at the (voxel, camera) pairs that see each other.

BEVFormer's spatial cross-attention (``models.occnet.bev_encoder.SpatialCrossAttention``) samples every
query in every camera and masks the misses; for the sparse voxel decoder most pairs miss (a voxel lies in
one or two of six cameras), so this module first projects the reference points (``project_to_cameras``),
keeps the (sample, camera, voxel, reference point) hits, and samples only there: every hit has
``num_offsets`` learned pixel offsets around its projection with softmax weights (over all of the query's
reference points and offsets); the weighted samples of one voxel are summed per camera and averaged over
the cameras that see it. All cameras' feature maps are stacked into one atlas image, each map between two
rows of zeros, so that one bilinear ``grid_sample`` serves every hit (rows clamped to the zero rows: the
same values as zero padding around each camera's map).

Shapes: query (B, M, C); points (B, M, P, 3) ego frame; img_from_ego (B, N, 3, 4) for images of
``image_hw``; feats (B, N, C, h, w). Output (B, M, C); a voxel no camera sees gets zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.occnet.bev_encoder import project_to_cameras


class SparseCameraSampling(nn.Module):
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

    def forward(
        self,
        query: torch.Tensor,
        points_m: torch.Tensor,
        img_from_ego: torch.Tensor,
        image_hw: tuple[int, int],
        feats: torch.Tensor,
    ) -> torch.Tensor:
        b, m, c = query.shape
        n, fh, fw = feats.shape[1], feats.shape[3], feats.shape[4]
        p, k = self.num_ref, self.num_offsets
        refs, valids = zip(*(project_to_cameras(points_m[i], img_from_ego[i : i + 1], image_hw) for i in range(b)))
        ref, valid = torch.cat(refs), torch.cat(valids)  # (B, N, M, P, 2), (B, N, M, P)
        off = self.offsets(query).view(b, m, p, k, 2) * self.offset_scale
        off = off * torch.tensor([2.0 / fw, 2.0 / fh], device=query.device, dtype=query.dtype)
        attn = self.weights(query).view(b, m, p * k).softmax(-1).view(b, m, p, k)
        hb, hn, hm, hp = valid.nonzero(as_tuple=True)  # the hits
        loc = ref[hb, hn, hm, hp].unsqueeze(1) + off[hb, hm, hp]  # (E, K, 2)
        value = self.value(feats.flatten(0, 1))
        atlas = F.pad(value, (0, 0, 1, 1)).transpose(0, 1).reshape(1, c, b * n * (fh + 2), fw)
        row_px = ((loc[..., 1] + 1) * fh / 2 - 0.5).clamp(-1.0, float(fh))  # pixel row in the camera's map
        row_px = row_px + ((hb * n + hn) * (fh + 2) + 1).unsqueeze(1).to(loc.dtype)
        grid = torch.stack([loc[..., 0], (row_px + 0.5) / (b * n * (fh + 2)) * 2 - 1], dim=-1).view(1, 1, -1, 2)
        sampled = F.grid_sample(atlas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.view(c, -1, k)  # (C, E, K): channel-major, as grid_sample writes it
        weight = attn[hb, hm, hp]  # (E, K)
        contrib = sampled[..., 0] * weight[:, 0]  # (C, E): the K-term weighted sum, one fused pass per term
        for j in range(1, k):
            contrib = contrib.addcmul(sampled[..., j], weight[:, j])
        acc = query.new_zeros(c, b * m).index_add_(1, hb * m + hm, contrib)
        hits = valid.any(-1).sum(1).clamp(min=1).to(query.dtype).view(1, b * m)  # cameras seeing each voxel
        return self.out((acc / hits).t().reshape(b, m, c))
