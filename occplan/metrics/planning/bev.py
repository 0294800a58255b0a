"""ST-P3 / UniAD BEV geometry of the open-loop box collisions, in the ego frame of the planning time
(x forward, y left):

* BEV grid [-50, 50) m at 0.5 m (200 x 200), indexed [x, y]; cell centre offset ``bx = -49.75``;
* ego footprint 4.084 m x 1.85 m shifted 0.5 m forward, rasterised once with ``skimage.draw.polygon``
  semantics (``polygon_cells``) into cell offsets, translated to each waypoint by
  ``int(offset + waypoint / 0.5)`` (waypoints cast to float32 as the reference's tensors), clipped to
  the grid, **not rotated**;
* GT agent boxes rasterised as the references do: bottom corners ``round((p + 50) / 0.5)`` filled
  with ``cv2.fillPoly``;
* class sets: ``veh`` = categories ``vehicle.*``, ``vehped`` = ``veh`` + ``human.pedestrian.*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from occplan.errors import ValidationError
from occplan.metrics.planning.config import PlanningMetricConfig
from occplan.types import AgentBox

VEHICLE_PREFIX = "vehicle."
PEDESTRIAN_PREFIX = "human.pedestrian."
CLASS_SETS = ("veh", "vehped")


def polygon_cells(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Integer (row, col) points covered by a polygon, as ``skimage.draw.polygon`` (>= 0.19).

    Candidates are the integer points of ``[max(0, min), ceil(max)]`` on each axis (clipped to
    ``shape``); a point is covered when O'Rourke's crossing test says inside, on an edge or on a
    vertex (vertex tolerance 1e-12). Returns (rr, cc) int64 in row-major order.
    """
    r = np.asarray(rows, dtype=np.float64)
    c = np.asarray(cols, dtype=np.float64)
    minr, maxr = int(max(0, r.min())), int(np.ceil(r.max()))
    minc, maxc = int(max(0, c.min())), int(np.ceil(c.max()))
    if shape is not None:
        maxr, maxc = min(shape[0] - 1, maxr), min(shape[1] - 1, maxc)
    pr, pc = np.meshgrid(np.arange(minr, maxr + 1), np.arange(minc, maxc + 1), indexing="ij")
    pr, pc = pr.ravel(), pc.ravel()
    # x = column, y = row as in skimage's point_in_polygon(cols, rows, c, r)
    x0 = c[:, None] - pc[None]
    y0 = r[:, None] - pr[None]
    x1, y1 = np.roll(x0, 1, axis=0), np.roll(y0, 1, axis=0)
    vertex = ((np.abs(x0) < 1e-12) & (np.abs(y0) < 1e-12)).any(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = (x0 * y1 - x1 * y0) / (y1 - y0)
    r_cross = (((y0 > 0) != (y1 > 0)) & (xi > 0)).sum(axis=0)
    l_cross = (((y0 < 0) != (y1 < 0)) & (xi < 0)).sum(axis=0)
    edge = (r_cross % 2) != (l_cross % 2)
    inside = (r_cross % 2) == 1
    keep = vertex | edge | inside
    return pr[keep].astype(np.int64), pc[keep].astype(np.int64)


def ego_footprint_offsets(cfg: PlanningMetricConfig) -> np.ndarray:
    """(K, 2) int64 (row, col) cells of the ST-P3 ego footprint at the origin (32 cells by default)."""
    h, w, s = cfg.ego_length_m, cfg.ego_width_m, cfg.ego_forward_shift_m
    pts = np.array([[-h / 2 + s, w / 2], [h / 2 + s, w / 2], [h / 2 + s, -w / 2], [-h / 2 + s, -w / 2]])
    bx = -cfg.bev_half_range_m + cfg.bev_cell_m / 2
    pts = (pts - bx) / cfg.bev_cell_m
    rr, cc = polygon_cells(pts[:, 0], pts[:, 1])
    return np.stack([rr, cc], axis=1)


def footprint_collisions(
    xy_m: np.ndarray, bev: np.ndarray, offsets: np.ndarray, cfg: PlanningMetricConfig
) -> np.ndarray:
    """ST-P3 ``evaluate_single_coll``: (T, 2) waypoints, (T, H, W) bool GT BEV -> (T,) bool."""
    steps = (xy_m.astype(np.float32) / np.float32(cfg.bev_cell_m)).astype(np.float64)
    cells = (steps[:, None, :] + offsets[None]).astype(np.int32)
    r = np.clip(cells[..., 0], 0, bev.shape[1] - 1)
    c = np.clip(cells[..., 1], 0, bev.shape[2] - 1)
    return bev[np.arange(len(xy_m))[:, None], r, c].any(axis=1)


def rasterise_boxes(boxes: Sequence[AgentBox], cfg: PlanningMetricConfig) -> np.ndarray:
    """(H, W) bool BEV of the boxes' bottom rectangles (ego frame), ST-P3 / UniAD style:
    vertices ``round((p + 50) / 0.5)`` filled with ``cv2.fillPoly`` (pixel (row, col) = (x, y))."""
    import cv2

    n = cfg.bev_size
    bev = np.zeros((n, n), dtype=np.uint8)
    for box in boxes:
        pts = np.round((box.corners_xy() + cfg.bev_half_range_m) / cfg.bev_cell_m).astype(np.int32)
        cv2.fillPoly(bev, [pts[:, ::-1].copy()], 1)
    return bev.astype(bool)


def in_class_set(category: str, class_set: str) -> bool:
    """``veh``: vehicle.* (not the ego); ``vehped``: also human.pedestrian.*."""
    vehicle = category.startswith(VEHICLE_PREFIX) and category != "vehicle.ego"
    if class_set == "veh":
        return vehicle
    if class_set == "vehped":
        return vehicle or category.startswith(PEDESTRIAN_PREFIX)
    raise ValidationError(f"class set {class_set!r}: expected 'veh' or 'vehped'")
