"""What a planner follows at a decision: a reference polyline ahead (ego frame) and a speed limit.

- With a map route (``route_source`` "map_lanes"): the route's centreline ahead as given in the
  PlannerInput, and the map route's speed limit (the lowest over ``limit_preview_m`` ahead of the
  ego's projection, so that a lower limit is met before it starts).
- Without one: a path from the start pose to the mission goal over the map's drivable area
  (``planners.goal_path.goal_path``), built at the scenario's first decision (when the map has no
  drivable area or no drivable path exists, the straight line from the start to the goal), and at
  each decision refined over the free cells of the planner's bird's-eye view
  (``planners.goal_path.local_path``, via ``refine``). The speed limit is the route's default
  (``occplan.types.route.DEFAULT_SPEED_LIMIT_MPS`` unless the init says otherwise).
- Before any ``reset`` (a planner called on bare inputs): the input's route, else none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occplan.interfaces import PlannerInit, PlannerInput
from occplan.types import Pose
from occplan.types.route import DEFAULT_SPEED_LIMIT_MPS
from planners.goal_path import GoalPathConfig, goal_path, keeps_left, local_path
from planners.route import Path
from planners.scene import SceneForecast


@dataclass(frozen=True)
class ReferenceConfig:
    """``behind_m`` / ``ahead_m``: the part of a world-frame path handed out around the ego's
    projection; ``search_ahead_m``: how far past the previous projection the next may lie (a path that
    passes near itself is not cut short); ``limit_preview_m``: see the module docstring."""

    behind_m: float = 10.0
    ahead_m: float = 120.0
    search_ahead_m: float = 40.0
    limit_preview_m: float = 30.0
    goal_path: GoalPathConfig = field(default_factory=GoalPathConfig)


@dataclass(frozen=True)
class Reference:
    """``xy_m`` (K, 2) polyline ahead in the ego frame ((0, 2) when there is none); ``speed_limit_mps``;
    ``source``: "map_lanes", "goal_path" or "input" (the input's route, before any reset)."""

    xy_m: np.ndarray
    speed_limit_mps: float
    source: str


class ReferenceFollower:
    """Per-scenario state of the reference: the init record and the goal path with its progress."""

    def __init__(self, init: PlannerInit | None = None, config: ReferenceConfig | None = None) -> None:
        self.init = init
        self.config = config or ReferenceConfig()
        self._route_path: Path | None = None
        if init is not None and init.route.has_lanes:
            xy = init.route.centreline_xy_m
            self._route_path = Path.from_polyline(xy, extend_back_m=0.0, extend_front_m=0.0)
            self._route_arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        self._goal_path: np.ndarray | None = None  # (K, 2) world, built at the first decision
        self._goal_arc: np.ndarray | None = None
        self._s_m = 0.0

    @property
    def default_speed_limit_mps(self) -> float:
        return self.init.route.default_speed_limit_mps if self.init is not None else DEFAULT_SPEED_LIMIT_MPS

    def reference(self, inp: PlannerInput) -> Reference:
        if self.init is None:
            return Reference(inp.route_xy_m, self.default_speed_limit_mps, "input")
        if inp.route_source == "map_lanes":
            return Reference(inp.route_xy_m, self._route_limit(inp), "map_lanes")
        return Reference(self._goal_ahead(inp), self.default_speed_limit_mps, "goal_path")

    def refine(self, ref: Reference, scene: SceneForecast, static_speed_mps: float) -> Reference:
        """A goal-path reference re-planned over the free cells of ``scene`` (drivable, no obstacle
        slower than ``static_speed_mps`` now); other references, or when no free path exists, as given."""
        if ref.source != "goal_path":
            return ref
        moving = np.hypot(*np.moveaxis(scene.obstacle_velocity_mps[0], -1, 0)) >= static_speed_mps
        free = scene.drivable & ~(scene.obstacles[0] & ~moving)
        keep_left = keeps_left(self.init.map.location)
        xy = local_path(free, scene.min_xy_m, scene.cell_m, ref.xy_m, keep_left, self.config.goal_path)
        return ref if xy is None else Reference(xy, ref.speed_limit_mps, ref.source)

    def _route_limit(self, inp: PlannerInput) -> float:
        path = self._route_path
        if path is None:
            return self.default_speed_limit_mps
        route = self.init.route
        s, _ = path.project(np.array([[inp.ego_state.x_m, inp.ego_state.y_m]]))
        arc = self._route_arc
        ahead = (arc >= s[0] - route.spacing_m) & (arc <= s[0] + self.config.limit_preview_m)
        return float(route.speed_limit_mps[ahead].min()) if ahead.any() else float(route.speed_limit_mps[-1])

    def _goal_ahead(self, inp: PlannerInput) -> np.ndarray:
        ego = inp.ego_state
        if self._goal_path is None:
            self._build_goal_path(np.array([ego.x_m, ego.y_m, ego.yaw_rad]))
        xy, arc, cfg = self._goal_path, self._goal_arc, self.config
        window = (arc >= self._s_m - cfg.behind_m) & (arc <= self._s_m + cfg.search_ahead_m)
        d = np.hypot(xy[window, 0] - ego.x_m, xy[window, 1] - ego.y_m)
        self._s_m = max(self._s_m, float(arc[window][np.argmin(d)])) if window.any() else self._s_m
        keep = (arc >= self._s_m - cfg.behind_m) & (arc <= self._s_m + cfg.ahead_m)
        world_from_ego = Pose.from_xy_yaw(ego.x_m, ego.y_m, ego.yaw_rad)
        return (xy[keep] - world_from_ego.translation_m[:2]) @ world_from_ego.rotation[:2, :2]

    def _build_goal_path(self, start: np.ndarray) -> None:
        init = self.init
        goal = init.mission_goal
        path = None
        if init.map.drivable_wkb is not None:
            path = goal_path(init.map.drivable_wkb, start, goal, self.config.goal_path)
        if path is None or len(path) < 2:
            path = np.array([start[:2], goal[:2]]) if np.hypot(*(goal[:2] - start[:2])) > 0.5 else None
        if path is None:  # the goal is the start: straight ahead
            path = np.array([start[:2], start[:2] + 100.0 * np.array([np.cos(start[2]), np.sin(start[2])])])
        self._goal_path = path
        self._goal_arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
