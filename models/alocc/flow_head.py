"""ALOcc flow head: per-voxel 2D occupancy flow by hybrid classification-regression.

Motion spans small and large speeds, which a plain regression fits poorly. Each flow component (ego-frame
x forward, y left, m/s: the grid frame of Occ3D flow) is predicted as a distribution over ``num_bins``
speed bins evenly spaced on [-max_mps, max_mps] plus a regression residual: ``flow = sum_b softmax_b *
centre_b + residual``. Training supervises the bins with the two-hot encoding of the GT flow (linear
interpolation between the two nearest bin centres, clipped to the range) and the decoded flow with L1.
The head may run on a coarser grid than the GT (``flow_bin_loss`` reads the coarse voxel of each GT voxel).

Output: ``flow`` (B, 2, X, Y, Z) m/s (channel 0 = x, 1 = y) and ``bin_logits`` (B, 2, num_bins, X, Y, Z).
"""

from __future__ import annotations

import torch
from torch import nn


def bin_centres(num_bins: int, max_mps: float) -> torch.Tensor:
    """(num_bins,) evenly spaced speeds from -max_mps to max_mps."""
    return torch.linspace(-max_mps, max_mps, num_bins)


def two_hot(flow_mps: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """flow (...,) m/s -> (..., num_bins) weights on the two nearest bin centres (sum 1) whose weighted
    mean is the flow clipped to [centres[0], centres[-1]]."""
    n = len(centres)
    step = (centres[-1] - centres[0]) / (n - 1)
    pos = ((flow_mps.clamp(centres[0], centres[-1]) - centres[0]) / step).clamp(0, n - 1)
    lo = pos.floor().long().clamp(max=n - 2)
    frac = pos - lo
    out = torch.zeros(*flow_mps.shape, n, dtype=flow_mps.dtype, device=flow_mps.device)
    out.scatter_(-1, lo.unsqueeze(-1), (1 - frac).unsqueeze(-1))
    out.scatter_add_(-1, (lo + 1).unsqueeze(-1), frac.unsqueeze(-1))
    return out


class FlowHead(nn.Module):
    """Voxel features (B, C, X, Y, Z) -> bin logits and residuals of the two flow components."""

    def __init__(self, in_channels: int, num_bins: int, max_mps: float) -> None:
        super().__init__()
        self.num_bins = num_bins
        self.register_buffer("centres", bin_centres(num_bins, max_mps), persistent=False)
        self.out = nn.Conv3d(in_channels, 2 * (num_bins + 1), 1)

    def decode(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """raw (B, 2 * (num_bins + 1), X, Y, Z): per component ``num_bins`` logits then one residual."""
        b, _, *spatial = raw.shape
        raw = raw.view(b, 2, self.num_bins + 1, *spatial)
        logits, residual = raw[:, :, : self.num_bins], raw[:, :, self.num_bins]
        expected = torch.einsum("bcn...,n->bc...", logits.softmax(2), self.centres)
        return {"flow": expected + residual, "bin_logits": logits}

    def forward(self, voxels: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decode(self.out(voxels))


def flow_bin_loss(
    bin_logits: torch.Tensor, gt_flow: torch.Tensor, mask: torch.Tensor, centres: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the bins vs the two-hot GT flow of every ``mask`` voxel, mean over those voxels and
    both components (0 with gradient when the mask is empty).

    bin_logits (B, 2, n, X/f, Y/f, Z/f) on a grid ``f`` times coarser than the GT (f >= 1 integer; a GT
    voxel reads the coarse voxel containing it); gt_flow (B, 2, X, Y, Z) m/s; mask (B, X, Y, Z) bool."""
    f = mask.shape[1] // bin_logits.shape[3]
    b, i, j, k = torch.nonzero(mask, as_tuple=True)
    if len(b) == 0:
        return bin_logits.sum() * 0.0
    logits = bin_logits.permute(0, 3, 4, 5, 1, 2)[b, i // f, j // f, k // f]  # (P, 2, n)
    target = two_hot(gt_flow.permute(0, 2, 3, 4, 1)[b, i, j, k], centres.to(gt_flow))  # (P, 2, n)
    return -(target * logits.log_softmax(-1)).sum(-1).mean()
