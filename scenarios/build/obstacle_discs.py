"""Obstacles as chains of discs along each box's long axis, and the leader gap of every vehicle: the
arclength to the first sample of its path ahead whose corridor (own half-width + disc radius + margin)
touches a disc (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit

from scenarios.build.objects import StaticObject

CORRIDOR_MARGIN_M = 0.3
PEDESTRIAN_RADIUS_M = 0.45


@njit(cache=True)
def path_gaps(path_xy, path_h, n_pts, front_idx, look_n, half_w, active, obs_xy, obs_r, obs_owner, obs_v, step_m):
    """Arclength (n,) from each vehicle's front sample to the first blocked sample ahead (inf if none) and
    the blocking obstacle's speed along the path there (n,)."""
    n = path_xy.shape[0]
    m_count = obs_xy.shape[0]
    gap = np.full(n, np.inf)
    lead_v = np.zeros(n)
    cand = np.empty(m_count, np.int64)
    for i in range(n):
        if not active[i]:
            continue
        j0 = min(front_idx[i], n_pts[i] - 1)
        px, py = path_xy[i, j0, 0], path_xy[i, j0, 1]
        reach = look_n * step_m[i] + half_w[i] + CORRIDOR_MARGIN_M
        nc = 0
        for m in range(m_count):
            if obs_owner[m] == i:
                continue
            dx, dy = obs_xy[m, 0] - px, obs_xy[m, 1] - py
            r = reach + obs_r[m]
            if dx * dx + dy * dy < r * r:
                cand[nc] = m
                nc += 1
        if nc == 0:
            continue
        for k in range(look_n):
            j = front_idx[i] + k
            if j >= n_pts[i]:
                break
            qx, qy = path_xy[i, j, 0], path_xy[i, j, 1]
            for c in range(nc):
                m = cand[c]
                thr = half_w[i] + obs_r[m] + CORRIDOR_MARGIN_M
                dx, dy = obs_xy[m, 0] - qx, obs_xy[m, 1] - qy
                if dx * dx + dy * dy < thr * thr:
                    gap[i] = k * step_m[i]
                    lead_v[i] = max(0.0, obs_v[m, 0] * np.cos(path_h[i, j]) + obs_v[m, 1] * np.sin(path_h[i, j]))
                    break
            if gap[i] < np.inf:
                break
    return gap, lead_v


def axis_discs(width_m: float, length_m: float) -> np.ndarray:
    """Offsets along the long axis of the discs (radius width/2) covering a box."""
    half = max(0.0, length_m / 2 - width_m / 2)
    return np.linspace(-half, half, max(1, int(np.ceil(2 * half / 1.0)) + 1))


def static_discs(statics: list[StaticObject]) -> tuple[np.ndarray, np.ndarray]:
    """Centres (M, 2) and radii (M,) of the discs covering the static objects."""
    xy, r = [np.zeros((0, 2))], [np.zeros(0)]
    for o in statics:
        a = axis_discs(o.size_m[0], o.size_m[1])
        xy.append(o.xy_m + a[:, None] * np.array([np.cos(o.yaw_rad), np.sin(o.yaw_rad)]))
        r.append(np.full(len(a), o.size_m[0] / 2))
    return np.concatenate(xy), np.concatenate(r)
