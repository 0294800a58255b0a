"""What a scenario type stages and how: the ``Situation`` interface, its input and output, and the ego-route
helpers the situations share.

A situation runs inside ``scenarios.build.world.assemble_world`` after the network, the scenery, the
parked objects and the vehicles' plans exist and before the traffic simulation: it replaces the ego's
plan by a cruising one, clears the ego's lane ahead of other traffic, and places its own actors at
arclengths of the ego's route (world frame, metres; "ahead" = along the ego's lane). Its actors then
move in the same simulation as everything else, so the expert ego reacts to them as a driver would.
A situation that does not fit the drawn world raises ``StagingError`` (the caller draws another
world). After the scene is written, ``Situation.check`` measures that the situation happened as
tagged (``scenarios.build.situations.checks``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from scenarios.build.areas import Areas
from scenarios.build.config import BuildConfig
from scenarios.build.mesh import MeshBuilder
from scenarios.build.network import RoadNetwork
from scenarios.build.objects import StaticObject
from scenarios.build.path import Path
from scenarios.build.pedestrians import PedestrianMotion
from scenarios.build.vehicles import EGO, VehiclePlan

if TYPE_CHECKING:
    from occplan.world.generated import GeneratedWorld
    from occplan.world.spec import WorldSpec


class StagingError(Exception):
    """The drawn world cannot hold the situation (no parking strip on the ego's side, route too short)."""


@dataclass(frozen=True)
class StageInput:
    """The world so far: the seed's ``rng``, network, areas, builder parameters, the planned vehicles
    (``plans[0]`` the ego), the parked objects, the simulation times (T,) and the static mesh builder."""

    rng: np.random.Generator
    net: RoadNetwork
    areas: Areas
    cfg: BuildConfig
    plans: tuple[VehiclePlan, ...]
    statics: tuple[StaticObject, ...]
    times_s: np.ndarray
    builder: MeshBuilder


@dataclass(frozen=True)
class Actor:
    """A staged actor, found again among the world's tracks by its nuScenes ``category`` and its box
    centre ``start_xy_m`` (2,) at its first sample (world frame)."""

    category: str
    start_xy_m: np.ndarray


@dataclass(frozen=True)
class Staged:
    """What a situation staged: the vehicles' plans (ego first) and the parked objects replacing the
    input's, its scripted pedestrians, obstacle discs of unannotated geometry for the drivers
    (``debris_discs``: centres (M, 2), radii (M,)), the footprints of that geometry (world-frame
    polygons), its key actors by role, and its parameters (times in s, distances in m)."""

    plans: tuple[VehiclePlan, ...]
    statics: tuple[StaticObject, ...]
    pedestrians: tuple[PedestrianMotion, ...] = ()
    debris_discs: tuple[np.ndarray, np.ndarray] | None = None
    debris_footprints: tuple[shapely.Polygon, ...] = ()
    actors: dict[str, Actor] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)

    def translated(self, offset_xy_m: np.ndarray) -> Staged:
        """The world-frame positions shifted by ``offset_xy_m`` (2,), as ``translate_world`` shifts the world
        (plans, objects and pedestrians are build-time inputs and stay as they were)."""
        return replace(
            self,
            debris_footprints=tuple(shapely.transform(p, lambda c: c + offset_xy_m) for p in self.debris_footprints),
            actors={k: replace(a, start_xy_m=a.start_xy_m + offset_xy_m) for k, a in self.actors.items()},
        )


class Situation(ABC):
    """A scenario type as a builder option: the layouts it is drawn on, how it stages its actors, and the
    check that it happened (measured facts with ``passed``)."""

    name: str
    layouts: tuple[str, ...] = ("straight",)

    def layout(self, rng: np.random.Generator) -> str:
        return self.layouts[int(rng.integers(len(self.layouts)))]

    @abstractmethod
    def stage(self, inp: StageInput) -> Staged:
        """Place the situation's actors (raises ``StagingError`` when the world does not fit)."""

    @abstractmethod
    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        """Measured facts that the situation happens as tagged; ``passed`` says whether they do."""


@dataclass(frozen=True)
class EgoRoute:
    """The cruising ego's route: ``path`` (its lane), rear-axle start arclength ``s0_m``, ``front_m`` from
    the rear axle to the front bumper, constant cruise ``speed_mps`` (until something makes it brake)."""

    path: Path
    s0_m: float
    front_m: float
    speed_mps: float

    def front_at(self, t_s: float) -> float:
        """Arclength of the front bumper at ``t_s`` while cruising."""
        return self.s0_m + self.front_m + self.speed_mps * t_s

    def frame(self, s_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lane-centre point (2,), unit heading (2,) and unit right normal (2,) at arclength ``s_m``."""
        xy, h = self.path.sample(s_m)
        d = np.array([np.cos(h[0]), np.sin(h[0])])
        return xy[0], d, np.array([d[1], -d[0]])

    def heading(self, s_m: float) -> float:
        return float(self.path.sample(s_m)[1][0])


def cruising_ego(inp: StageInput, ahead_m: float) -> tuple[VehiclePlan, EgoRoute]:
    """The ego's plan starting at its desired speed, and its route; the route must reach ``ahead_m`` beyond
    the ego's front (else ``StagingError``)."""
    ego = inp.plans[EGO]
    ego = replace(ego, v0_mps=ego.driver.desired_speed_mps)
    if ego.path.length_m - (ego.s0_m + ego.front_m) < ahead_m:
        raise StagingError(f"ego route has {ego.path.length_m - ego.s0_m - ego.front_m:.0f} m ahead, need {ahead_m}")
    return ego, EgoRoute(ego.path, ego.s0_m, ego.front_m, ego.v0_mps)


def same_lane(plan: VehiclePlan, ego: VehiclePlan) -> bool:
    """Whether ``plan``'s route starts on the ego's lane (routes begin at their first lane's start)."""
    return bool(np.allclose(plan.path.xy_m[0], ego.path.xy_m[0], atol=1e-6))


def traffic_off_ego_lane(plans: tuple[VehiclePlan, ...], ego: VehiclePlan) -> list[VehiclePlan]:
    """The other vehicles, without those starting ahead of the ego on its lane (the situation owns that
    stretch; late arrivals enter the lane behind the ego and stay)."""
    return [p for p in plans[1:] if not (same_lane(p, ego) and p.spawn_step == 0 and p.s0_m > ego.s0_m)]


def statics_outside(statics: tuple[StaticObject, ...], region: shapely.Geometry) -> list[StaticObject]:
    """The parked objects whose box centre is not in ``region``."""
    return [o for o in statics if not shapely.contains_xy(region, o.xy_m[0], o.xy_m[1])]


def right_strip_span(inp: StageInput, route: EgoRoute) -> tuple[float, float] | None:
    """Route arclengths (lo, hi) of the widest parking strip on the ego's right, None without one."""
    best = None
    offset = inp.cfg.lane_width_m + inp.cfg.parking_width_m / 2
    for strip in inp.net.parking:
        rd = inp.net.roads[strip.road]
        xy, h = rd.centre.sample(np.linspace(strip.s_start_m, strip.s_end_m, 8))
        pts = xy + strip.side * offset * np.column_stack([-np.sin(h), np.cos(h)])
        s_route = route.path.project(pts)
        base, heading = route.path.sample(s_route)
        lateral = np.einsum("ij,ij->i", pts - base, np.column_stack([np.sin(heading), -np.cos(heading)]))
        if np.all(np.abs(lateral - (inp.cfg.lane_width_m + inp.cfg.parking_width_m) / 2) < 0.5):
            lo, hi = float(s_route.min()), float(s_route.max())
            if best is None or hi - lo > best[1] - best[0]:
                best = (lo, hi)
    return best


def ego_with_right_strip(inp: StageInput) -> tuple[VehiclePlan, EgoRoute, tuple[float, float]]:
    """A cruising ego (``cruising_ego`` from the route start) and the route arclengths (lo, hi) of the parking
    strip on its right (``right_strip_span``); ``StagingError`` when the world has none."""
    ego, route = cruising_ego(inp, ahead_m=0.0)
    span = right_strip_span(inp, route)
    if span is None:
        raise StagingError("no parking strip on the ego's right")
    return ego, route, span
