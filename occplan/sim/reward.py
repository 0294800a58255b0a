"""Per-decision reward terms (progress, collision, off-road, comfort) from two consecutive states.

Comfort is a per-decision proxy of ``sim/comfort_ok``: the bounds of ``occplan.rules.comfort`` checked
on the substeps' unfiltered longitudinal acceleration, lateral acceleration (v x yaw rate), yaw rate
and longitudinal jerk (nuPlan's filters need a longer history than one decision).
"""

from __future__ import annotations

import numpy as np

from occplan.rules.comfort import ComfortBounds
from occplan.sim.config import RewardConfig
from occplan.sim.dynamics import EGO_FIELDS
from occplan.sim.state import SimState

_BOUNDS = ComfortBounds()


def comfortable(prev: SimState, state: SimState, bounds: ComfortBounds = _BOUNDS) -> bool:
    """True when every substep of the last decision (and the jerk from ``prev``'s state into it) is
    within ``bounds``."""
    egos = np.vstack([prev.trace.ego[-1:], state.trace.ego])  # (S + 1, 7) ego vectors
    accel, yaw_rate = egos[:, EGO_FIELDS.index("accel_mps2")], egos[:, EGO_FIELDS.index("yaw_rate_radps")]
    lat = egos[:, EGO_FIELDS.index("speed_mps")] * yaw_rate
    jerk = np.diff(accel) / state.context.config.dt_s
    return bool(
        np.all((accel > bounds.min_lon_accel_mps2) & (accel < bounds.max_lon_accel_mps2))
        and np.all(np.abs(lat) < bounds.max_abs_lat_accel_mps2)
        and np.all(np.abs(yaw_rate) < bounds.max_abs_yaw_rate_radps)
        and np.all(np.abs(jerk) < bounds.max_abs_lon_jerk_mps3)
    )


def reward_terms(prev: SimState, state: SimState, cfg: RewardConfig) -> dict[str, float]:
    """Named terms; their sum is the reward. Collision and off-road fire on the decision where they start."""
    return {
        "progress": cfg.progress_per_m * (state.route_progress_m - prev.route_progress_m),
        "collision": cfg.collision * float(state.collided and not prev.collided),
        "offroad": cfg.offroad * float(state.offroad and not prev.offroad),
        "comfort": cfg.comfort * float(not comfortable(prev, state)),
    }
