"""The Intelligent Driver Model (Treiber, Hennecke and Helbing 2000), written once for the
simulator's reactive agents, the planners' proposals and the scenario builder's traffic.

``a = a_max (1 - (v / v0)^delta - (s* / s)^2)`` with the desired gap
``s* = s0 + max(0, v T + v dv / (2 sqrt(a_max b)))``, ``dv = v - v_lead`` and the gap ``s`` floored
at ``MIN_GAP_FLOOR_M`` (inf = nothing ahead). All functions broadcast over numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_GAP_FLOOR_M = 0.1
"""Gaps (m) below this are read as this (the interaction term stays finite at contact)."""


@dataclass(frozen=True)
class IDMParams:
    """``accel_max_mps2`` a_max, ``decel_comfort_mps2`` b, ``headway_s`` T, ``min_gap_m`` s0,
    ``exponent`` delta; the result is clipped to [-``decel_max_mps2``, ``accel_max_mps2``]
    (``decel_max_mps2`` = inf: no braking limit)."""

    accel_max_mps2: float = 1.5
    decel_comfort_mps2: float = 2.0
    headway_s: float = 1.5
    min_gap_m: float = 2.0
    exponent: float = 4.0
    decel_max_mps2: float = math.inf


def desired_gap_m(speed_mps, closing_speed_mps, min_gap_m, headway_s, accel_max_mps2, decel_comfort_mps2):
    """IDM desired gap s* (m) for a follower at ``speed_mps`` closing at ``closing_speed_mps`` (v - v_lead)."""
    return min_gap_m + np.maximum(
        0.0, speed_mps * headway_s + speed_mps * closing_speed_mps / (2 * np.sqrt(accel_max_mps2 * decel_comfort_mps2))
    )


def interaction_mps2(speed_mps, gap_m, closing_speed_mps, min_gap_m, headway_s, accel_max_mps2, decel_comfort_mps2):
    """The interaction term ``-a_max (s* / s)^2`` (m/s^2; 0 for an infinite gap)."""
    s_star = desired_gap_m(speed_mps, closing_speed_mps, min_gap_m, headway_s, accel_max_mps2, decel_comfort_mps2)
    return -accel_max_mps2 * (s_star / np.maximum(gap_m, MIN_GAP_FLOOR_M)) ** 2


def idm_accel(speed_mps, target_speed_mps, gap_m, lead_speed_mps, p: IDMParams) -> np.ndarray:
    """IDM acceleration (m/s^2) towards ``target_speed_mps`` behind a leader ``gap_m`` ahead (inf when
    nothing leads) moving at ``lead_speed_mps``; a target speed of 0 brakes at the limit."""
    v = np.asarray(speed_mps, dtype=np.float64)
    free = 1.0 - (v / np.maximum(target_speed_mps, MIN_GAP_FLOOR_M)) ** p.exponent
    inter = interaction_mps2(
        v, gap_m, v - lead_speed_mps, p.min_gap_m, p.headway_s, p.accel_max_mps2, p.decel_comfort_mps2
    )
    return np.clip(p.accel_max_mps2 * free + inter, -p.decel_max_mps2, p.accel_max_mps2)
