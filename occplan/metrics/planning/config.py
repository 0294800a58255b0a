"""Constants of the open-loop planning metrics: the ST-P3 BEV grid and ego footprint, the waypoint
steps and horizons, and the vehicle of the voxel check."""

from __future__ import annotations

from dataclasses import dataclass, field

from occplan.errors import ValidationError
from occplan.types import VehicleParams


@dataclass(frozen=True)
class PlanningMetricConfig:
    """ST-P3 constants, horizons and the voxel-check parameters."""

    bev_half_range_m: float = 50.0
    bev_cell_m: float = 0.5
    ego_length_m: float = 4.084
    ego_width_m: float = 1.85
    ego_forward_shift_m: float = 0.5
    num_steps: int = 6
    interval_s: float = 0.5
    horizons_s: tuple[float, ...] = (1.0, 2.0, 3.0)
    vehicle: VehicleParams = field(default_factory=VehicleParams)

    @property
    def bev_size(self) -> int:
        return round(2 * self.bev_half_range_m / self.bev_cell_m)

    def horizon_steps(self) -> list[int]:
        """1-based step index of each horizon (1 s -> step 2 at 0.5 s)."""
        steps = [round(h / self.interval_s) for h in self.horizons_s]
        if any(s < 1 or s > self.num_steps for s in steps):
            raise ValidationError(f"PlanningMetricConfig.horizons_s: {self.horizons_s} outside the trajectory")
        return steps
