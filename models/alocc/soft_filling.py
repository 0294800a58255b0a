"""ALOcc occlusion-aware soft filling of the LSS depth distribution (intra-object occlusion).

Plain LSS lifting gives a camera ray's feature to the depth bins in proportion to the predicted depth
distribution ``p(d)``; a sharp distribution (the LiDAR delta it is trained towards) leaves the space behind
an observed surface with nothing, although an object seen at depth ``d'`` most likely continues behind
its visible face. ALOcc transfers a share of the surface weight to the bins behind it with a conditional
probability of "still inside the object" that decays with the distance behind the surface. Here:

    w(d) = p(d) + share * sum_{d' : z_d' < z_d} p(d') * exp(-(z_d - z_d') / decay_m)

per pixel, with ``share`` in (0, 1) and ``decay_m`` > 0 predicted per pixel from the image features
(``OcclusionSoftFill``), so the filling adapts to what the pixel sees. In front of the depth mass the
weight is the depth distribution itself (nothing is added there). The sum over the bins in front is an
exclusive cumulative sum, computed for all bins at once in log space (``logcumsumexp``), so arbitrary
(non-uniform) bin centres ``z`` work and nothing loops over bins or pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_LOG_FLOOR = 1e-12  # p(d) below this counts as 0 in log space


def soft_fill(
    depth_prob: torch.Tensor, bin_centres_m: torch.Tensor, decay_m: torch.Tensor, share: torch.Tensor
) -> torch.Tensor:
    """Occlusion-aware lifting weights.

    depth_prob (M, D, H, W) per-pixel depth distribution over D bins (camera z, increasing centres
    ``bin_centres_m`` (D,) in metres); decay_m and share (M, 1, H, W) or broadcastable (decay in metres,
    share in [0, 1]). Returns (M, D, H, W) weights ``w`` as in the module docstring (``w >= depth_prob``,
    equal in front of every bin carrying mass)."""
    if depth_prob.dim() != 4 or bin_centres_m.shape != (depth_prob.shape[1],):
        raise ValueError(
            f"soft_fill: depth_prob (M, D, H, W) and bin_centres_m (D,) expected, got "
            f"{tuple(depth_prob.shape)} and {tuple(bin_centres_m.shape)}"
        )
    z = bin_centres_m.to(depth_prob).view(1, -1, 1, 1)
    inv = 1.0 / decay_m
    # log of p(d') * exp(z_d' / decay); inclusive cumulative log-sum over d' <= d ...
    log_terms = depth_prob.clamp_min(_LOG_FLOOR).log() + z * inv
    inclusive = torch.logcumsumexp(log_terms, dim=1)
    # ... shifted by one bin for the strict "in front of" (d' < d); the first bin has nothing in front
    exclusive = torch.cat([torch.full_like(inclusive[:, :1], float("-inf")), inclusive[:, :-1]], dim=1)
    behind = torch.exp(exclusive - z * inv)
    return depth_prob + share * behind


class OcclusionSoftFill(nn.Module):
    """Per-pixel ``decay_m`` and ``share`` of ``soft_fill`` from image features (B*N, C, H, W).

    ``decay_m = min_decay_m + softplus(.)`` (starts near ``init_decay_m``); ``share = sigmoid(.)`` (starts
    at ``init_share``)."""

    def __init__(
        self, in_channels: int, init_decay_m: float = 2.0, init_share: float = 0.3, min_decay_m: float = 0.1
    ) -> None:
        super().__init__()
        self.min_decay_m = min_decay_m
        self.params = nn.Conv2d(in_channels, 2, 1)
        nn.init.zeros_(self.params.weight)
        with torch.no_grad():
            d = torch.tensor(init_decay_m - min_decay_m)
            self.params.bias.copy_(
                torch.stack([d + torch.log(-torch.expm1(-d)), torch.logit(torch.tensor(init_share))])
            )

    def forward(self, feats: torch.Tensor, depth_prob: torch.Tensor, bin_centres_m: torch.Tensor) -> torch.Tensor:
        """feats (M, C, H, W), depth_prob (M, D, H, W) -> lifting weights (M, D, H, W)."""
        raw = self.params(feats)
        decay_m = self.min_decay_m + F.softplus(raw[:, :1])
        share = torch.sigmoid(raw[:, 1:2])
        return soft_fill(depth_prob, bin_centres_m, decay_m, share)
