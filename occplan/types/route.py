"""The route a planner is given: lanes of the map from the ego's start lane to the lane of the mission goal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types._check import check_array

ROUTE_SOURCES = ("map_lanes", "none")
DEFAULT_SPEED_LIMIT_MPS = 40.0 / 3.6
"""Speed limit of lanes whose map gives none: 40 km/h, Boston's default urban limit (25 mph), the
lower of the two nuScenes cities' defaults (Singapore's is 50 km/h)."""


@dataclass(frozen=True)
class LaneRoute:
    """A route over the map's lanes (nuPlan's route roadblocks, at lane level), world frame.

    ``source``: "map_lanes" (found by a graph search over the map expansion's lane connectivity) or
    "none" (no map expansion, a pose off every lane, no lane path: ``reason`` says which).
    ``lane_tokens``: the lanes and lane connectors in driving order, the start lane first, then the
    goal lane, then the lanes continuing past it (``goal_index`` is the goal lane's index).
    ``centreline_xy_m`` (K, 2) their centrelines joined, resampled every ``spacing_m``;
    ``speed_limit_mps`` (K,) the speed limit at each centreline point (the map's where its lane has
    one, else ``default_speed_limit_mps``). Without a route: no lanes, (0, 2) and (0,) arrays.
    """

    source: str
    reason: str
    lane_tokens: tuple[str, ...]
    goal_index: int
    centreline_xy_m: np.ndarray
    speed_limit_mps: np.ndarray
    spacing_m: float
    default_speed_limit_mps: float

    @classmethod
    def none(cls, reason: str, default_speed_limit_mps: float, spacing_m: float = 1.0) -> LaneRoute:
        """No route, because of ``reason``."""
        return cls("none", reason, (), -1, np.zeros((0, 2)), np.zeros(0), spacing_m, default_speed_limit_mps)

    @property
    def has_lanes(self) -> bool:
        return self.source == "map_lanes"

    @property
    def length_m(self) -> float:
        """Length of the centreline (0 without a route)."""
        if len(self.centreline_xy_m) < 2:
            return 0.0
        return float(np.hypot(*np.diff(self.centreline_xy_m, axis=0).T).sum())

    def validate(self) -> None:
        if self.source not in ROUTE_SOURCES:
            raise ValidationError(f"LaneRoute.source: expected one of {ROUTE_SOURCES}, got {self.source!r}")
        k = len(self.centreline_xy_m)
        check_array(self.centreline_xy_m, "LaneRoute.centreline_xy_m", (None, 2), np.float64, finite=True)
        check_array(self.speed_limit_mps, "LaneRoute.speed_limit_mps", (k,), np.float64, finite=True)
        if self.has_lanes:
            if k < 2 or not self.lane_tokens or not 0 <= self.goal_index < len(self.lane_tokens):
                raise ValidationError(
                    f"LaneRoute: a map_lanes route needs >= 2 centreline points and lanes with the goal lane among "
                    f"them, got {k} points, {len(self.lane_tokens)} lanes, goal_index {self.goal_index}"
                )
            if np.any(self.speed_limit_mps <= 0):
                raise ValidationError("LaneRoute.speed_limit_mps: speed limits must be > 0")
        elif k or self.lane_tokens or not self.reason:
            raise ValidationError("LaneRoute: a route of source 'none' has no lanes, no centreline and a reason")
        if not (self.spacing_m > 0 and self.default_speed_limit_mps > 0):
            raise ValidationError("LaneRoute: spacing_m and default_speed_limit_mps must be > 0")
