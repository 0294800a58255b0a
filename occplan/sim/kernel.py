"""The substeps of one decision in one numba call: controller (or held control, or the log), bicycle,
ego-vs-agent collision and off-road distance."""

from __future__ import annotations

import numba as nb
import numpy as np

from occplan.rules.footprint import ego_corners_vec, ego_hits_boxes
from occplan.rules.offroad import outside_distance
from occplan.sim.controller import track
from occplan.sim.dynamics import bicycle

TRACK, HOLD, LOG = 0, 1, 2
"""Ego drivers of ``advance``: track a reference, hold a control, follow the log."""


@nb.njit(cache=True)
def advance(
    ego0: np.ndarray,
    driver: int,
    ref_xy: np.ndarray,
    ref_times: np.ndarray,
    ref_profile: np.ndarray,
    control: np.ndarray,
    memory: np.ndarray,
    log_ego: np.ndarray,
    gains: np.ndarray,
    limits: np.ndarray,
    geometry: np.ndarray,
    dt_s: float,
    agent_xy: np.ndarray,
    agent_wl: np.ndarray,
    agent_yaw: np.ndarray,
    agent_present: np.ndarray,
    outside_m: np.ndarray,
    raster_origin_m: np.ndarray,
    cell_m: float,
):
    """Run S substeps from the ego vector ``ego0`` (7,).

    ``driver``: TRACK (reference ``ref_*`` with PID ``memory`` (2,) and ``gains``), HOLD (``control``
    (2,) accel, steering rate) or LOG (the rows of ``log_ego`` (S, 7)). Agents per substep:
    ``agent_xy`` (S, A, 2) centres, ``agent_yaw`` (S, A), ``agent_present`` (S, A), ``agent_wl`` (A, 2).
    ``outside_m`` is the DrivableRaster distance (an empty array = no map: off-road distance 0).
    Returns (ego (S, 7), memory (2,), collided (S,) bool, off-road distance (S,) m).
    """
    s_count = log_ego.shape[0]
    egos = np.empty((s_count, 7))
    collided = np.zeros(s_count, np.bool_)
    offroad = np.zeros(s_count)
    mem = memory.copy()
    ego = ego0.copy()
    for i in range(s_count):
        if driver == LOG:
            ego = log_ego[i].copy()
        elif driver == HOLD:
            ego = bicycle(ego, control[0], control[1], dt_s, limits)
        else:
            accel, rate, mem[0], mem[1] = track(
                ego, ref_xy, ref_times, ref_profile, i * dt_s, mem, gains, limits[0], limits[3], dt_s
            )
            ego = bicycle(ego, accel, rate, dt_s, limits)
        egos[i] = ego
        present = np.flatnonzero(agent_present[i])
        collided[i] = ego_hits_boxes(ego, geometry, agent_xy[i][present], agent_wl[present], agent_yaw[i][present])
        if outside_m.size:
            offroad[i] = outside_distance(outside_m, raster_origin_m, cell_m, ego_corners_vec(ego, geometry))
    return egos, mem, collided, offroad
