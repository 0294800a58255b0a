"""Reference paths to the mission goal over the drivable area, for scenes whose map has no lanes.

Two stages, both shortest paths on a grid (Dijkstra over 8-connected cells, ``scipy.sparse.csgraph``)
where a step costs its length times ``1 + kerb_weight * max(0, kerb_clearance - clearance)**2``
(clearance: distance to the nearest blocked cell), and cells with less than ``min_clearance_m`` are
not used (the ego's half width plus a margin):

1. ``goal_path`` (world frame, once per scenario): the drivable polygons, rasterised
   (``occplan.rules.offroad.DrivableRaster``, ``global_cell_m`` cells) over the box of the start and
   goal grown by ``margin_m``; the path joins the start to the goal (each snapped to the nearest
   usable cell) and keeps ``global_kerb_clearance_m`` off the kerbs where the road allows. It fixes
   the way (which roads, which turns), not the lane.
2. ``local_path`` (ego frame, every decision): the free cells of the planner's bird's-eye view
   (drivable and not a static obstacle, so kerbs, medians and parked cars the map does not show
   count); the path runs from the ego to the point of the goal path ``local_ahead_m`` ahead (snapped
   to the nearest usable cell, ``local_kerb_clearance_m``), then continues along the goal path
   (moved to join it). Where the free cross-section is
   at least ``two_way_width_m`` wide it keeps to the driving side: rays along the normal find the free
   width left and right (``d_l``, ``d_r``, capped at ``max_kerb_m``) and the sample moves to the middle
   of the driving-side half, ``(d_l - 3 d_r) / 4`` to the left in right-hand traffic (Boston) and
   ``(3 d_l - d_r) / 4`` in left-hand traffic (Singapore); the shift is median-filtered over
   ``shift_median_m``, Gaussian-smoothed (``shift_sigma_m``), at most ``max_shift_m``, and fades out
   where the shifted path would come closer than ``min_clearance_m`` to a blocked cell.

Grid paths are staircases: every path (and the local path again after the shift) is
Gaussian-smoothed along its length (``smooth_sigma_m``, ends held by point reflection) and resampled
every ``spacing_m``, so that its curvature (which caps the planners' speed) is the road's, not the
grid's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from occplan.rules.offroad import DrivableRaster

LEFT_HAND_TRAFFIC_PREFIX = "singapore"


@dataclass(frozen=True)
class GoalPathConfig:
    """See the module docstring; lengths in metres."""

    global_cell_m: float = 0.5
    margin_m: float = 40.0
    min_clearance_m: float = 1.2
    global_kerb_clearance_m: float = 5.0
    local_kerb_clearance_m: float = 2.5
    kerb_weight: float = 2.0
    smooth_sigma_m: float = 4.0
    spacing_m: float = 0.5
    local_ahead_m: float = 35.0
    two_way_width_m: float = 7.0
    max_kerb_m: float = 8.0
    max_shift_m: float = 2.0
    shift_median_m: float = 15.0
    shift_sigma_m: float = 5.0


def keeps_left(location: str) -> bool:
    """Left-hand traffic at the location (the Singapore maps of nuScenes)."""
    return location.startswith(LEFT_HAND_TRAFFIC_PREFIX)


def goal_path(
    drivable_wkb: bytes, start: np.ndarray, goal: np.ndarray, config: GoalPathConfig | None = None
) -> np.ndarray | None:
    """(K, 2) world polyline from ``start`` to ``goal`` ((3,) x, y, yaw each, or (2,)) over the drivable
    area, or None when no drivable path joins them."""
    cfg = config or GoalPathConfig()
    ends = np.array([start[:2], goal[:2]], dtype=np.float64)
    raster = DrivableRaster.from_wkb(drivable_wkb, ends, cfg.margin_m, cfg.global_cell_m)
    cells = _grid_path(
        raster.outside_m == 0, raster.origin_m, cfg.global_cell_m, ends, cfg.global_kerb_clearance_m, cfg
    )
    if cells is None:
        return None
    xy = np.vstack([ends[:1], raster.origin_m + (cells + 0.5) * cfg.global_cell_m, ends[1:]])
    return _smooth(xy, cfg)


def local_path(
    free: np.ndarray, min_xy_m: np.ndarray, cell_m: float, ahead_xy_m: np.ndarray, keep_left: bool, cfg: GoalPathConfig
) -> np.ndarray | None:
    """(K, 2) ego-frame path from the ego (the origin) over the ``free`` cells (X, Y) bool (cell (i, j)
    has its lower corner at ``min_xy_m + (i, j) * cell_m``) to the goal path ``ahead_xy_m`` (L, 2) ego
    frame, then along it; None when the goal path is too short or no free path reaches it."""
    if len(ahead_xy_m) < 2:
        return None
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(ahead_xy_m, axis=0).T))])
    hi = min_xy_m + np.array(free.shape) * cell_m
    inside = np.all((ahead_xy_m > min_xy_m + 2.0) & (ahead_xy_m < hi - 2.0), axis=1) & (arc <= cfg.local_ahead_m)
    if not inside.any():
        return None
    k = int(np.flatnonzero(inside)[-1])
    ends = np.array([[0.0, 0.0], ahead_xy_m[k]])
    cells = _grid_path(free, min_xy_m, cell_m, ends, cfg.local_kerb_clearance_m, cfg)
    if cells is None:
        return None
    local = np.vstack([ends[:1], min_xy_m + (cells + 0.5) * cell_m])
    path = _smooth(np.vstack([local, ahead_xy_m[k + 1 :] + (local[-1] - ahead_xy_m[k])]), cfg)
    return _smooth(_keep_side(path, free, min_xy_m, cell_m, keep_left, cfg), cfg)


def _grid_path(
    free: np.ndarray, origin_m: np.ndarray, cell_m: float, ends: np.ndarray, kerb_clearance_m: float, cfg
) -> np.ndarray | None:
    """(N, 2) cell indices of the cheapest 8-connected path over usable cells between the usable cells
    nearest ``ends`` (2, 2) (see the module docstring), or None."""
    clearance = ndimage.distance_transform_edt(free) * cell_m
    usable = clearance >= cfg.min_clearance_m
    if not usable.any():
        return None
    nx, ny = usable.shape
    ids = np.full(usable.shape, -1, np.int64)
    ids[usable] = np.arange(int(usable.sum()))
    cell_cost = 1.0 + cfg.kerb_weight * np.maximum(kerb_clearance_m - clearance, 0.0) ** 2
    ia0, ja0 = np.nonzero(usable)
    rows, cols, weights = [], [], []
    for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
        ib, jb = ia0 + di, ja0 + dj
        ok = (ib < nx) & (jb >= 0) & (jb < ny)
        ia, ja, ib, jb = ia0[ok], ja0[ok], ib[ok], jb[ok]
        ok = usable[ib, jb]
        ia, ja, ib, jb = ia[ok], ja[ok], ib[ok], jb[ok]
        w = np.hypot(di, dj) * cell_m * 0.5 * (cell_cost[ia, ja] + cell_cost[ib, jb])
        rows += [ids[ia, ja], ids[ib, jb]]
        cols += [ids[ib, jb], ids[ia, ja]]
        weights += [w, w]
    n = len(ia0)
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    centres = origin_m + (np.column_stack([ia0, ja0]) + 0.5) * cell_m
    src, dst = (int(np.argmin(np.hypot(*(centres - p).T))) for p in ends)
    dist, pred = dijkstra(graph, indices=src, return_predecessors=True)
    if not np.isfinite(dist[dst]):
        return None
    path = [dst]
    while path[-1] != src:
        path.append(int(pred[path[-1]]))
    order = np.array(path[::-1])
    return np.column_stack([ia0[order], ja0[order]])


def _resample(xy: np.ndarray, spacing_m: float) -> np.ndarray:
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) > 1e-9])
    xy = xy[keep]
    if len(xy) < 2:
        return np.vstack([xy, xy])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    s = np.linspace(0.0, arc[-1], max(int(np.ceil(arc[-1] / spacing_m)) + 1, 2))
    return np.column_stack([np.interp(s, arc, xy[:, 0]), np.interp(s, arc, xy[:, 1])])


def _smooth(xy: np.ndarray, cfg: GoalPathConfig) -> np.ndarray:
    """The polyline Gaussian-smoothed along its length and resampled every ``spacing_m``; the ends are
    extended by point reflection first, so they stay in place and a straight end stays straight."""
    xy = _resample(xy, cfg.spacing_m)
    sigma = cfg.smooth_sigma_m / cfg.spacing_m
    n = min(int(np.ceil(3 * sigma)), len(xy) - 1)
    padded = np.vstack([2 * xy[0] - xy[n:0:-1], xy, 2 * xy[-1] - xy[-2 : -n - 2 : -1]])
    smooth = ndimage.gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[n : n + len(xy)]
    return _resample(smooth, cfg.spacing_m)


def _keep_side(
    xy: np.ndarray, free: np.ndarray, min_xy_m: np.ndarray, cell_m: float, keep_left: bool, cfg: GoalPathConfig
) -> np.ndarray:
    """Move each sample of a wide enough cross-section to the middle of its driving-side half."""
    d = np.gradient(xy, axis=0)
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    normal = np.column_stack([-d[:, 1], d[:, 0]])  # left
    steps = np.arange(1, int(cfg.max_kerb_m / (cell_m / 2)) + 1) * (cell_m / 2)

    def width(sign: float) -> np.ndarray:
        pts = xy[:, None, :] + sign * steps[None, :, None] * normal[:, None, :]
        idx = np.floor((pts - min_xy_m) / cell_m).astype(np.int64)
        inside = np.all((idx >= 0) & (idx < free.shape), axis=-1)
        blocked = np.zeros(inside.shape, bool)
        blocked[inside] = ~free[idx[inside][:, 0], idx[inside][:, 1]]
        first = np.where(blocked.any(axis=1), np.argmax(blocked, axis=1), len(steps) - 1)
        return steps[first]

    d_l, d_r = width(1.0), width(-1.0)
    shift = (3 * d_l - d_r) / 4 if keep_left else (d_l - 3 * d_r) / 4
    shift = np.where(d_l + d_r >= cfg.two_way_width_m, shift, 0.0)
    shift = ndimage.median_filter(shift, max(round(cfg.shift_median_m / cfg.spacing_m) | 1, 1), mode="nearest")
    shift = ndimage.gaussian_filter1d(shift, cfg.shift_sigma_m / cfg.spacing_m, mode="nearest")
    shift = np.clip(shift, -cfg.max_shift_m, cfg.max_shift_m)
    shift = np.clip(shift, -np.maximum(d_r - cfg.min_clearance_m, 0), np.maximum(d_l - cfg.min_clearance_m, 0))
    # where the shifted sample would come closer than min_clearance_m to a blocked cell, the shift fades out
    clearance = ndimage.distance_transform_edt(free) * cell_m
    idx = np.floor((xy + shift[:, None] * normal - min_xy_m) / cell_m).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < free.shape), axis=1)
    tight = np.zeros(len(xy))
    tight[inside] = clearance[idx[inside, 0], idx[inside, 1]] < cfg.min_clearance_m
    n = 2 * round(cfg.shift_sigma_m / cfg.spacing_m) + 1
    tight = ndimage.gaussian_filter1d(ndimage.maximum_filter1d(tight, n), cfg.shift_sigma_m / cfg.spacing_m)
    return xy + (shift * (1.0 - np.clip(2.0 * tight, 0.0, 1.0)))[:, None] * normal
