"""Intelligent Driver Model (Treiber et al. 2000), vectorised over proposals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IDMParams:
    """IDM parameters (tuplan_garage PDM-Closed defaults, plus a hard braking limit)."""

    accel_max_mps2: float = 1.5
    decel_comfort_mps2: float = 3.0
    decel_max_mps2: float = 6.0
    headway_s: float = 1.5
    min_gap_m: float = 1.0
    exponent: float = 4.0


def idm_accel(
    speed_mps: np.ndarray,
    target_speed_mps: np.ndarray,
    gap_m: np.ndarray,
    lead_speed_mps: np.ndarray,
    p: IDMParams,
) -> np.ndarray:
    """IDM acceleration, clipped to [-decel_max, accel_max]; ``gap_m`` = inf when nothing leads.

    All arguments broadcast together; a target speed of 0 brakes at the hard limit.
    """
    v = np.asarray(speed_mps, dtype=np.float64)
    free = 1.0 - (v / np.maximum(target_speed_mps, 0.1)) ** p.exponent
    dv = v - lead_speed_mps
    s_star = p.min_gap_m + np.maximum(
        0.0, v * p.headway_s + v * dv / (2 * np.sqrt(p.accel_max_mps2 * p.decel_comfort_mps2))
    )
    interaction = (s_star / np.maximum(gap_m, 0.1)) ** 2
    return np.clip(p.accel_max_mps2 * (free - interaction), -p.decel_max_mps2, p.accel_max_mps2)
