"""``BEVObservation``: the env's occupancy, flow, drivable area and route as one channel-first uint8
bird's-eye-view image made for learning (Stable-Baselines3's CNN extractors take it as is), beside the
ego state and the command.

Image ``bev`` (C, H, W) uint8 with C = ``len(BEV_CHANNELS)`` and H = X / ``pool``, W = Y / ``pool``
of the occupancy grid (Occ3D: 200 / pool cells of 0.4 * pool m). Row i covers the grid's x cells
``i * pool .. (i + 1) * pool - 1`` (ego frame, x forward: row 0 is the rearmost), column j its y cells
(y left: column 0 is the rightmost). Channels:

- "vehicle", "vulnerable", "static": 255 where a cell holds an obstacle voxel of that class group
  (``VEHICLE_CLASSES``, ``VULNERABLE_CLASSES``, every other non-ground class), by the voxel-obstacle
  rule of ``occplan.rules.obstacles`` (occupied, not a ground class, within the obstacle height band
  above the column's ground);
- "drivable": 255 where the map's drivable area covers any of the cell's grid cells;
- "route": 255 on the route polyline ahead (its valid points, ``route_count``);
- "flow_x", "flow_y": the mean flow (m/s, ego frame) of the cell's obstacle voxels, speed-coded as
  ``128 + round(127 * clip(v / flow_full_scale_mps, -1, 1))`` (128 = still or no obstacle).
"""

from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from occplan.rules.obstacles import obstacle_voxels
from occplan.types import GridSpec, LabelSet

BEV_CHANNELS = ("vehicle", "vulnerable", "static", "drivable", "route", "flow_x", "flow_y")
BEV_INPUTS = ("occupancy", "flow", "ego", "route", "drivable")
"""The ``OccDrive-v0`` observation names ``BEVObservation`` reads ("flow" optional: still without it)."""
VEHICLE_CLASSES = ("bus", "car", "construction_vehicle", "trailer", "truck")
VULNERABLE_CLASSES = ("bicycle", "motorcycle", "pedestrian")
FLOW_FULL_SCALE_MPS = 20.0
_REQUIRED_KEYS = ("occupancy", "ego_state", "route", "route_count", "command", "drivable")


def class_groups(labels: LabelSet) -> np.ndarray:
    """(num_classes,) uint8 obstacle group per class: 0 vehicle, 1 vulnerable, 2 static (every other class;
    ground classes and free never become obstacles)."""
    groups = np.full(labels.num_classes, 2, np.uint8)
    groups[[labels.index(c) for c in VEHICLE_CLASSES]] = 0
    groups[[labels.index(c) for c in VULNERABLE_CLASSES]] = 1
    return groups


def bev_channels(
    semantics: np.ndarray,
    flow: np.ndarray | None,
    drivable: np.ndarray,
    route_xy_m: np.ndarray,
    grid: GridSpec,
    labels: LabelSet,
    pool: int = 2,
    flow_full_scale_mps: float = FLOW_FULL_SCALE_MPS,
) -> np.ndarray:
    """The BEV image (C, X / pool, Y / pool) uint8 (module docstring) from ``semantics`` (X, Y, Z)
    labels, ``flow`` (X, Y, Z, 2) m/s or None, ``drivable`` (X, Y) 0/1 and ``route_xy_m`` (K, 2) ego-frame
    route points (the valid ones only), all in ``grid``'s ego frame."""
    nx, ny, _ = grid.shape
    if nx % pool or ny % pool:
        raise ValueError(f"bev_channels: pool {pool} does not divide the grid's {nx} x {ny} cells")
    h, w = nx // pool, ny // pool

    def blocks(a: np.ndarray) -> np.ndarray:  # (X, Y) -> (H, W, pool * pool)
        return a.reshape(h, pool, w, pool).swapaxes(1, 2).reshape(h, w, pool * pool)

    hit = np.flatnonzero(obstacle_voxels(semantics, labels, grid.voxel_size_m))  # flat voxel indices
    column = hit // semantics.shape[2]  # flat (x, y) cell of each obstacle voxel
    group = class_groups(labels)[semantics.ravel()[hit]]
    out = np.empty((len(BEV_CHANNELS), h, w), np.uint8)
    for g in range(3):
        cells = np.zeros(nx * ny, bool)
        cells[column[group == g]] = True
        out[g] = blocks(cells.reshape(nx, ny)).any(axis=2) * np.uint8(255)
    out[3] = blocks(np.asarray(drivable, bool)).any(axis=2) * np.uint8(255)
    route = np.zeros((h, w), np.uint8)
    if len(route_xy_m):
        cell_m = grid.voxel_size_m * pool
        rows = (route_xy_m[:, 0] - grid.range_min_m[0]) / cell_m
        cols = (route_xy_m[:, 1] - grid.range_min_m[1]) / cell_m
        pts = np.floor(np.column_stack([cols, rows])).astype(np.int32)  # the cells; OpenCV points are (col, row)
        cv2.polylines(route, [pts], False, 255, 1)
    out[4] = route
    out[5:] = 128
    if flow is not None and len(hit):
        count = blocks(np.bincount(column, minlength=nx * ny).reshape(nx, ny)).sum(axis=2)
        moving = count > 0
        v = flow.reshape(-1, 2)[hit]
        for c in range(2):
            total = blocks(np.bincount(column, v[:, c], minlength=nx * ny).reshape(nx, ny)).sum(axis=2)
            mean = total[moving] / count[moving]
            out[5 + c][moving] = 128 + np.round(127 * np.clip(mean / flow_full_scale_mps, -1.0, 1.0))
    return out


class BEVObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """``OccDrive-v0`` observation -> Dict(``bev`` (C, H, W) uint8 image, ``ego_state`` (4,) float32,
    ``command`` Discrete(3)). The env must observe ``BEV_INPUTS``:
    ``gym.make("OccDrive-v0", observation=BEV_INPUTS)``. Recorded in the env's spec (``gym.make(env.spec)``
    rebuilds the wrapped env)."""

    def __init__(self, env: gym.Env, pool: int = 2, flow_full_scale_mps: float = FLOW_FULL_SCALE_MPS) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, pool=pool, flow_full_scale_mps=flow_full_scale_mps)
        gym.ObservationWrapper.__init__(self, env)
        base = env.observation_space
        missing = [k for k in _REQUIRED_KEYS if k not in base.spaces]
        if missing:
            raise ValueError(
                f"BEVObservation: the env's observation lacks {missing}; make it with observation={BEV_INPUTS}"
            )
        self.grid: GridSpec = env.get_wrapper_attr("sim").config.grid
        self.labels = LabelSet.occ3d()
        self.pool = int(pool)
        self.flow_full_scale_mps = float(flow_full_scale_mps)
        nx, ny, _ = self.grid.shape
        if self.pool < 1 or nx % self.pool or ny % self.pool:
            raise ValueError(f"BEVObservation: pool must be >= 1 and divide the grid's {nx} x {ny} cells, got {pool}")
        shape = (len(BEV_CHANNELS), nx // self.pool, ny // self.pool)
        self.observation_space = spaces.Dict(
            {"bev": spaces.Box(0, 255, shape, np.uint8), "ego_state": base["ego_state"], "command": base["command"]}
        )

    def observation(self, observation: dict) -> dict:
        route = observation["route"][: int(observation["route_count"])]
        bev = bev_channels(
            observation["occupancy"], observation.get("flow"), observation["drivable"], route, self.grid,
            self.labels, self.pool, self.flow_full_scale_mps,
        )  # fmt: skip
        return {"bev": bev, "ego_state": observation["ego_state"], "command": observation["command"]}
