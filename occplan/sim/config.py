"""Simulator configuration: frozen dataclasses, the single source of truth for a run."""

from __future__ import annotations

from dataclasses import dataclass, field

from occplan.errors import ValidationError
from occplan.rules.idm import IDMParams
from occplan.types import GridSpec, VehicleParams

MODES = ("open", "closed")
AGENT_MODES = ("replay", "idm")


@dataclass(frozen=True)
class TrackerConfig:
    """Trajectory tracker: kinematic path-following law on curvature (lateral) + PID on speed with
    feed-forward (longitudinal), both on a smooth time-parametrised reference (``controller.Reference``).

    Lateral: curvature = reference curvature - e_y / L^2 - 2 ``damping`` e_yaw / L with the tracking
    length ``L = max(min_lookahead_m, lookahead_time_s * speed)`` (a critically damped second-order
    error dynamics in distance travelled, stable down to standstill). Longitudinal: the speed target
    also closes the along-track position error with ``k_position`` (1/s); the acceleration command
    changes by at most the reference's own jerk plus ``max_jerk_mps3`` per second (the tracker adds
    no more jerk than that to the plan's; nuPlan's longitudinal-jerk bound is 4.13 m/s^3) and the
    steering angle by at most ``max_steer_rate_radps``. ``ki_speed`` defaults to 0: the position term
    already integrates the speed error, and an integral winds up while the ego waits at a stop.
    The jerk limit grows by ``jerk_per_error_mps3pm`` per metre of along-track error beyond
    ``jerk_error_deadband_m``, so a harsh plan
    that the ego falls behind is still caught up (tracking error costs comfort only when it exists).
    """

    min_lookahead_m: float = 3.0
    lookahead_time_s: float = 0.6
    damping: float = 1.0
    kp_speed: float = 1.5
    ki_speed: float = 0.0
    kd_speed: float = 0.0
    k_position: float = 1.0
    max_jerk_mps3: float = 3.5
    max_steer_rate_radps: float = 0.7
    jerk_per_error_mps3pm: float = 4.0
    jerk_error_deadband_m: float = 0.5


@dataclass(frozen=True)
class IDMConfig:
    """Reactive vehicles: the IDM ``params`` (``occplan.rules.idm``) shared by all of them, the
    lane half width of the leader search, and which tracks are driven.

    ``speed_jitter`` scales each agent's desired speed (its logged maximum speed) by a factor drawn
    uniformly from [1 - jitter, 1 + jitter] with the episode seed.
    """

    params: IDMParams = field(default_factory=IDMParams)
    min_desired_speed_mps: float = 3.0
    lane_half_width_m: float = 1.5
    speed_jitter: float = 0.1
    moving_threshold_m: float = 2.0  # tracks shorter than this stay log-replayed (parked)


@dataclass(frozen=True)
class RewardConfig:
    """Per-decision reward terms (named in the env's info): progress along the route, collision,
    off-road and comfort penalties."""

    progress_per_m: float = 0.1
    collision: float = -10.0
    offroad: float = -5.0
    comfort: float = -0.1


@dataclass(frozen=True)
class SimConfig:
    """One simulation run.

    ``mode``: "open" (ego follows the log) or "closed" (ego follows the plan with the tracker and a
    kinematic bicycle). ``agents``: "replay" (logged tracks) or "idm" (moving vehicles follow their
    logged paths with IDM; pedestrians and parked objects replayed). ``substeps`` of ``dt_s`` make one
    decision. ``occupancy_collision``: at every substep, query the world's static GT occupancy in the
    ego box's columns of ``grid`` and record a contact where a voxel is an obstacle
    (``occplan.rules.obstacles``; agents are checked exactly, box against box). Off-road follows
    ``occplan.rules.offroad``. ``history_len`` decisions of ego history; ``route_points`` route samples
    every ``route_spacing_m`` ahead of the ego.
    """

    mode: str = "closed"
    agents: str = "replay"
    dt_s: float = 0.1
    substeps: int = 5
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    idm: IDMConfig = field(default_factory=IDMConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    grid: GridSpec = field(default_factory=GridSpec.occ3d_nuscenes)
    occupancy_collision: bool = True
    history_len: int = 4
    route_points: int = 30
    route_spacing_m: float = 2.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValidationError(f"SimConfig.mode: expected one of {MODES}, got {self.mode!r}")
        if self.agents not in AGENT_MODES:
            raise ValidationError(f"SimConfig.agents: expected one of {AGENT_MODES}, got {self.agents!r}")
        if self.dt_s <= 0 or self.substeps < 1:
            raise ValidationError(f"SimConfig: dt_s > 0 and substeps >= 1 required, got {self.dt_s}, {self.substeps}")
        if self.history_len < 1 or self.route_points < 2:
            raise ValidationError("SimConfig: history_len >= 1 and route_points >= 2 required")

    @property
    def decision_dt_s(self) -> float:
        return self.dt_s * self.substeps

    @property
    def dt_us(self) -> int:
        return round(self.dt_s * 1e6)
