"""What the simulator records: one StepRecord per simulation step, an EpisodeLog per scenario.

Closed-loop metrics are pure functions of an EpisodeLog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types._check import check_array
from occplan.types.agents import AgentBox
from occplan.types.ego import EgoState, VehicleParams
from occplan.types.sensors import Command
from occplan.types.trajectory import Trajectory


@dataclass(frozen=True)
class StepRecord:
    """State after one simulation step (world frame).

    ``agents`` are world-frame boxes at ``time_us``; ``log_ego`` is the logged ego state at the same
    time (None past the log); ``plan`` is the trajectory issued at this step (ego frame of this step;
    None between decisions); ``occ_collision`` is True when the ego box overlaps a GT-occupied
    non-ground voxel (GT occupancy at the simulated pose, computed by the simulator).
    """

    time_us: int
    ego: EgoState
    agents: tuple[AgentBox, ...]
    log_ego: EgoState | None = None
    plan: Trajectory | None = None
    command: Command = Command.STRAIGHT
    occ_collision: bool = False


@dataclass(frozen=True)
class EpisodeLog:
    """A recorded closed- or open-loop episode.

    ``route_xy_m`` (K, 2) world-frame expert route polyline (the logged ego path);
    ``drivable_wkb`` world-frame drivable area as shapely WKB, None when the scene has no map.
    """

    scenario: str
    mode: str
    dt_s: float
    vehicle: VehicleParams
    steps: tuple[StepRecord, ...]
    route_xy_m: np.ndarray
    drivable_wkb: bytes | None = None

    def __post_init__(self) -> None:
        check_array(self.route_xy_m, "EpisodeLog.route_xy_m", (None, 2), np.float64, finite=True)
