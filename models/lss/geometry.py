"""Lift-Splat-Shoot geometry (Philion & Fidler, ECCV 2020): depth bins and the camera frustum in the ego frame.

Pixel coordinates are continuous with image pixel ``i`` spanning ``[i, i + 1)``; a feature map of stride
``s`` has cell ``(r, c)`` covering image pixels ``[c*s, (c+1)*s) x [r*s, (r+1)*s)``, centred at
``((c + 0.5) * s, (r + 0.5) * s)``. Depth is the camera-frame z (along the optical axis), as in LSS.
``img_from_ego`` (3, 4) = intrinsics (scaled to the resized image) @ cam_from_ego[:3]; its third row is
cam_from_ego's z row, so ``img_from_ego @ [x, 1]`` = (u * d, v * d, d).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from occplan.errors import ValidationError


@dataclass(frozen=True)
class DepthBins:
    """Uniform depth bins: bin ``k`` covers ``[min_m + k * step_m, min_m + (k + 1) * step_m)``, up to ``max_m``."""

    min_m: float
    max_m: float
    step_m: float

    def __post_init__(self) -> None:
        if not (0 < self.min_m < self.max_m and self.step_m > 0):
            raise ValidationError(f"DepthBins: need 0 < min_m < max_m and step_m > 0, got {self}")

    @property
    def num(self) -> int:
        return round((self.max_m - self.min_m) / self.step_m)

    def centers_m(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """(D,) float32 bin centres in metres."""
        return self.min_m + (torch.arange(self.num, dtype=torch.float32, device=device) + 0.5) * self.step_m


def frustum_ego(img_from_ego: torch.Tensor, feature_hw: tuple[int, int], stride: int, bins: DepthBins) -> torch.Tensor:
    """Ego-frame positions (N, D, Hf, Wf, 3) of every frustum point: feature cell centre (u, v) at each
    depth-bin centre d, for N cameras with projections ``img_from_ego`` (N, 3, 4)."""
    hf, wf = feature_hw
    dev = img_from_ego.device
    d = bins.centers_m(dev).view(-1, 1, 1).expand(-1, hf, wf)
    v = ((torch.arange(hf, device=dev, dtype=torch.float32) + 0.5) * stride).view(1, -1, 1).expand_as(d)
    u = ((torch.arange(wf, device=dev, dtype=torch.float32) + 0.5) * stride).view(1, 1, -1).expand_as(d)
    q = torch.stack([u * d, v * d, d], dim=-1)  # (D, Hf, Wf, 3) = img_from_ego @ [x, 1]
    m = img_from_ego[:, :, :3].double()
    p = img_from_ego[:, :, 3].double()
    # x = M^-1 (q - p), batched over cameras
    rel = q.double().unsqueeze(0) - p.view(-1, 1, 1, 1, 3)
    return torch.einsum("nij,ndhwj->ndhwi", torch.linalg.inv(m), rel).float()
