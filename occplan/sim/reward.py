"""Per-decision reward terms (progress, collision, off-road, comfort) from two consecutive states.

Comfort uses the nuPlan bounds of METRICS.md on the substeps of the decision.
"""

from __future__ import annotations

import numpy as np

from occplan.sim.config import RewardConfig
from occplan.sim.dynamics import EGO_FIELDS
from occplan.sim.state import SimState

# nuPlan comfort bounds (METRICS.md): longitudinal accel, |lateral accel|, |yaw rate|, |longitudinal jerk|
_ACCEL_MIN_MPS2, _ACCEL_MAX_MPS2 = -4.05, 2.40
_LAT_ACCEL_MAX_MPS2 = 4.89
_YAW_RATE_MAX_RADPS = 0.95
_JERK_MAX_MPS3 = 4.13


def comfortable(prev: SimState, state: SimState) -> bool:
    """True when every substep of the last decision (and the jerk from ``prev``'s state into it) is
    within the comfort bounds."""
    egos = np.vstack([prev.trace.ego[-1:], state.trace.ego])  # (S + 1, 7) ego vectors
    accel, yaw_rate = egos[:, EGO_FIELDS.index("accel_mps2")], egos[:, EGO_FIELDS.index("yaw_rate_radps")]
    lat = egos[:, EGO_FIELDS.index("speed_mps")] * yaw_rate
    jerk = np.diff(accel) / state.context.config.dt_s
    return bool(
        np.all((accel >= _ACCEL_MIN_MPS2) & (accel <= _ACCEL_MAX_MPS2))
        and np.all(np.abs(lat) <= _LAT_ACCEL_MAX_MPS2)
        and np.all(np.abs(yaw_rate) <= _YAW_RATE_MAX_RADPS)
        and np.all(np.abs(jerk) <= _JERK_MAX_MPS3)
    )


def reward_terms(prev: SimState, state: SimState, cfg: RewardConfig) -> dict[str, float]:
    """Named terms; their sum is the reward. Collision and off-road fire on the decision where they start."""
    return {
        "progress": cfg.progress_per_m * (state.route_progress_m - prev.route_progress_m),
        "collision": cfg.collision * float(state.collided and not prev.collided),
        "offroad": cfg.offroad * float(state.offroad and not prev.offroad),
        "comfort": cfg.comfort * float(not comfortable(prev, state)),
    }
