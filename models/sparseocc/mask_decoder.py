"""SparseOcc's mask transformer decoder (Mask2Former-style) over the kept voxels.

Learned queries (Q, D) are refined by layers of masked cross-attention to the kept voxels' features (a query
attends only to the voxels its previous mask covers; to all when that mask is empty), self-attention among
queries and a feed-forward. After the initial queries and after every layer, each query predicts class
logits over the K semantic classes plus "no object" (index K) and a mask logit per kept voxel (dot product
of its mask embedding with the voxel's mask feature).

Semantics of a kept voxel v (``combine_semantics``): argmax over classes c of
``sum_q softmax(class_q)[c] * sigmoid(mask_q[v])`` (the no-object probability is dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MaskPrediction:
    """``class_logits`` (B, Q, K + 1) and ``mask_logits`` (B, Q, N) over the N kept voxels."""

    class_logits: torch.Tensor
    mask_logits: torch.Tensor


def class_scores(pred: MaskPrediction) -> torch.Tensor:
    """(B, K, N) per-voxel class scores ``sum_q p_q(c) * sigmoid(m_q(v))`` (no-object dropped)."""
    probs = pred.class_logits.softmax(-1)[..., :-1]
    return torch.einsum("bqk,bqn->bkn", probs, pred.mask_logits.sigmoid())


def combine_semantics(pred: MaskPrediction) -> torch.Tensor:
    """(B, N) int64 class of each kept voxel: argmax of ``class_scores``."""
    return class_scores(pred).argmax(1)


class MaskDecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim))
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, pos: torch.Tensor, voxels: torch.Tensor, mask_logits: torch.Tensor):
        """q, pos (B, Q, D); voxels (B, N, D); mask_logits (B, Q, N) of the previous prediction."""
        blocked = mask_logits.detach() < 0
        blocked = blocked & ~blocked.all(-1, keepdim=True)
        attn_mask = blocked.repeat_interleave(self.heads, dim=0)
        q = self.norm1(q + self.cross(q + pos, voxels, voxels, attn_mask=attn_mask, need_weights=False)[0])
        q = self.norm2(q + self.self_attn(q + pos, q + pos, q, need_weights=False)[0])
        return self.norm3(q + self.ffn(q))


class MaskTransformerDecoder(nn.Module):
    """Kept voxel features (B, N, C) -> [MaskPrediction] (initial queries, then after each layer)."""

    def __init__(self, voxel_dim: int, dim: int, num_queries: int, num_layers: int, heads: int, num_classes: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.voxel_proj = nn.Sequential(nn.Linear(voxel_dim, dim), nn.LayerNorm(dim))
        self.layers = nn.ModuleList(MaskDecoderLayer(dim, heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.cls = nn.Linear(dim, num_classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def predict(self, q: torch.Tensor, voxels: torch.Tensor) -> MaskPrediction:
        q = self.norm(q)
        return MaskPrediction(self.cls(q), torch.einsum("bqd,bnd->bqn", self.mask_embed(q), voxels))

    def forward(self, voxel_features: torch.Tensor) -> list[MaskPrediction]:
        b = voxel_features.shape[0]
        voxels = self.voxel_proj(voxel_features)
        q = self.queries.unsqueeze(0).expand(b, -1, -1)
        pos = self.pos.unsqueeze(0).expand(b, -1, -1)
        preds = [self.predict(q, voxels)]
        for layer in self.layers:
            q = layer(q, pos, voxels, preds[-1].mask_logits)
            preds.append(self.predict(q, voxels))
        return preds
