"""Volume rendering of the semantic density field (NeRF's quadrature, as RenderOcc renders its voxel field).

Along a ray with densities ``sigma_i`` (1/m) at samples spaced ``delta_i`` metres: opacity
``alpha_i = 1 - exp(-sigma_i * delta_i)``, transmittance ``T_i = prod_{j<i} (1 - alpha_j)`` and weight
``w_i = T_i * alpha_i``; ``background = T_S`` is the share of the ray that leaves the sampled range
unstopped. Rendered depth ``sum_i w_i d_i + background * d_far``; rendered semantics
``sum_i w_i p_i / sum_i w_i`` (``p_i`` the class probabilities of sample ``i``): the class of what the ray
meets inside the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.renderocc.rays import RaySamples


def render_weights(sigma: torch.Tensor, delta_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (..., S) and background (...) of rays with densities ``sigma`` (..., S) and spacing ``delta_m``
    (...) or (..., S)."""
    if delta_m.dim() == sigma.dim() - 1:
        delta_m = delta_m.unsqueeze(-1)
    tau = sigma * delta_m  # optical thickness of each step
    before = torch.cumsum(tau, dim=-1) - tau  # exclusive cumulative thickness
    weights = torch.exp(-before) * (1.0 - torch.exp(-tau))
    background = torch.exp(-tau.sum(-1))
    return weights, background


@dataclass(frozen=True)
class RenderedRays:
    """Per ray (B, N, R): ``weights`` (B, N, R, S), ``background`` (B, N, R), ``depth_m`` (B, N, R) and
    ``class_probs`` (B, N, R, K) of the K non-free classes."""

    weights: torch.Tensor
    background: torch.Tensor
    depth_m: torch.Tensor
    class_probs: torch.Tensor


def gather_samples(volume: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Values (B, C, N, R, S) of a voxel volume (B, C, X, Y, Z) at flat cells (B, N, R, S) (0 where -1)."""
    b, c = volume.shape[:2]
    flat = volume.reshape(b, c, -1)
    idx = cell.clamp(min=0).reshape(b, 1, -1).expand(b, c, -1)
    vals = torch.gather(flat, 2, idx).view(b, c, *cell.shape[1:])
    return vals * (cell >= 0).unsqueeze(1).to(vals.dtype)


def render(density: torch.Tensor, logits: torch.Tensor, rays: list[RaySamples], far_m: float) -> RenderedRays:
    """Render the field (``density`` (B, X, Y, Z) 1/m >= 0, ``logits`` (B, K, X, Y, Z)) along the rays of each
    sample (``rays[b]`` of N cameras); depth beyond the last sample counts as ``far_m``."""
    cell = torch.stack([r.cell for r in rays]).to(density.device)  # (B, N, R, S)
    delta = torch.stack([r.delta_m for r in rays]).to(density.device)  # (B, N, R)
    depth = rays[0].depth_m.to(density.device)
    sigma = gather_samples(density.unsqueeze(1), cell)[:, 0]  # (B, N, R, S)
    weights, background = render_weights(sigma, delta)
    probs = F.softmax(gather_samples(logits, cell), dim=1)  # (B, K, N, R, S)
    class_probs = torch.einsum("bknrs,bnrs->bnrk", probs, weights) / weights.sum(-1, keepdim=True).clamp(min=1e-6)
    depth_m = (weights * depth).sum(-1) + background * far_m
    return RenderedRays(weights=weights, background=background, depth_m=depth_m, class_probs=class_probs)
