"""``build_world``: a complete procedural scene (static mesh, agents, expert ego, map) from a seed."""

from __future__ import annotations

import logging
from dataclasses import fields, replace

import numpy as np
import shapely

from occplan.types import VehicleParams
from occplan.world.spec import AgentTrack, EgoTrack, MapLayers, WorldSpec
from scenarios.build.areas import Areas, build_areas, map_layers, to_map_wkt
from scenarios.build.boxes import box_corners, boxes_overlap
from scenarios.build.categories import (
    DRIVEABLE,
    KINDS,
    OTHER_FLAT,
    SIDEWALK,
    TERRAIN,
    instance_token,
    make_track,
    static_track,
)
from scenarios.build.config import LAYOUTS, BuildConfig
from scenarios.build.mesh import MeshBuilder, add_ground, add_kerbs
from scenarios.build.network import build_network, path_crossings
from scenarios.build.objects import StaticObject, place_objects
from scenarios.build.pedestrians import MOVING, STANDING, PedestrianMotion, place_pedestrians
from scenarios.build.scenery import place_scenery
from scenarios.build.situations.base import Situation, Staged, StageInput
from scenarios.build.traffic import TrafficResult, simulate
from scenarios.build.vehicles import VehiclePlan, plan_vehicles

log = logging.getLogger(__name__)

BASE_TIME_US = 1_600_000_000_000_000
ASPHALT_RGB, SIDEWALK_RGB, PLAZA_RGB, TERRAIN_RGB = (72, 72, 75), (165, 163, 158), (185, 165, 135), (88, 118, 58)
VEHICLE_MOVING, VEHICLE_STOPPED = 0, 1
CYCLE_WITH_RIDER = 0


def layout_for_seed(seed: int) -> str:
    """Layouts cycle with the seed, so any 5 consecutive seeds produce every layout."""
    return LAYOUTS[seed % len(LAYOUTS)]


def build_world(
    seed: int,
    scene_name: str,
    duration_s: float = 20.0,
    *,
    location: str = "boston-seaport",
    origin_xy_m: tuple[float, float] = (0.0, 0.0),
    config: BuildConfig | None = None,
) -> WorldSpec:
    """Generate the world of ``seed``: deterministic (only ``np.random.default_rng(seed)`` is used).

    The scene lies in ``origin_xy_m + [0, world_size_m]^2`` (world frame); scenes sharing a nuScenes
    ``location`` (one map per location) need distinct origins. Agent tracks and the ego log are
    sampled at ``config.sim_rate_hz`` over ``[0, duration_s]``.
    """
    return assemble_world(seed, scene_name, duration_s, location=location, origin_xy_m=origin_xy_m, config=config)[0]


def assemble_world(
    seed: int,
    scene_name: str,
    duration_s: float = 20.0,
    *,
    location: str = "boston-seaport",
    origin_xy_m: tuple[float, float] = (0.0, 0.0),
    config: BuildConfig | None = None,
    situation: Situation | None = None,
) -> tuple[WorldSpec, Staged | None]:
    """``build_world``, optionally staging a scenario type's ``situation`` (``scenarios.build.situations``):
    its layout replaces the seed's, and after the vehicles are planned it places its actors relative to
    the ego's route (they then move in the same traffic simulation). Returns the world and what the
    situation staged (None without one); without a situation the world is ``build_world``'s, bit for bit.
    """
    cfg = config or BuildConfig()
    rng = np.random.default_rng(seed)
    layout = layout_for_seed(seed) if situation is None else situation.layout(rng)
    net = build_network(rng, layout, cfg)
    areas = build_areas(net, cfg)
    builder = MeshBuilder(rng)
    scenery = place_scenery(rng, net, areas, cfg, builder)
    plaza = shapely.union_all(scenery.plazas) if scenery.plazas else shapely.Polygon()
    regions = [(g, DRIVEABLE, rgb, 0.0) for g, rgb in areas.paint]
    regions += [
        (areas.drivable, DRIVEABLE, ASPHALT_RGB, 0.0),
        (areas.sidewalk, SIDEWALK, SIDEWALK_RGB, cfg.kerb_height_m),
    ]
    regions += [(plaza, OTHER_FLAT, PLAZA_RGB, cfg.kerb_height_m)]
    add_ground(builder, areas.square, regions, (TERRAIN, TERRAIN_RGB, cfg.kerb_height_m))
    add_kerbs(builder, areas.drivable, cfg.kerb_height_m, _raised_class(areas, plaza), _raised_rgb)

    n_steps = round(duration_s * cfg.sim_rate_hz) + 1
    times_s = np.arange(n_steps) / cfg.sim_rate_hz
    statics = place_objects(rng, net, cfg)
    plans = plan_vehicles(rng, net, cfg, n_steps, duration_s)
    staged = None
    if situation is not None:
        staged = situation.stage(StageInput(rng, net, areas, cfg, tuple(plans), tuple(statics), times_s, builder))
        plans, statics = list(staged.plans), list(staged.statics)
    early, excluded = _ego_crossings(plans[0], net)
    if staged is not None:  # no crossing pedestrian on the ego's route: only the situation's actors act there
        early, excluded = frozenset(), excluded | early | _route_crossings(plans[0], net)
    peds = place_pedestrians(rng, net, areas, cfg, times_s, early, excluded)
    peds += list(staged.pedestrians) if staged is not None else []
    debris = staged.debris_discs if staged is not None else None
    traffic = simulate(plans, net, peds, statics, n_steps, 1.0 / cfg.sim_rate_hz, debris)

    start_us = BASE_TIME_US + int(seed % 100_000) * 10_000_000_000
    times_us = start_us + np.round(times_s * 1e6).astype(np.int64)
    ego = EgoTrack(
        times_us=times_us,
        xy_m=traffic.xy_m[:, 0].copy(),
        z_m=np.zeros(n_steps),
        yaw_rad=_wrap(traffic.heading_rad[:, 0]),
        speed_mps=traffic.speed_mps[:, 0].copy(),
    )
    tracks = (
        _vehicle_tracks(traffic, times_us)
        + _pedestrian_tracks(peds, areas, cfg, times_us)
        + _static_tracks(statics, times_us)
    )
    tracks = remove_overlaps(tracks, ego)
    tracks = tuple(_rename(t, instance_token(scene_name, k)) for k, t in enumerate(tracks))
    spec = WorldSpec(
        scene_name=scene_name,
        location=location,
        seed=int(seed),
        start_time_us=int(start_us),
        duration_s=float(duration_s),
        static=builder.build(),
        agents=tracks,
        ego=ego,
        map=map_layers(net, areas, cfg),
        route_xy_m=plans[0].path.xy_m.copy(),
    )
    if not any(origin_xy_m):
        return spec, staged
    offset = np.asarray(origin_xy_m, dtype=np.float64)
    return translate_world(spec, offset), (staged.translated(offset) if staged is not None else None)


def _route_crossings(ego: VehiclePlan, net) -> frozenset[int]:
    return frozenset(c for c, _, _ in path_crossings(ego.path, net.crossings))


def _ego_crossings(ego: VehiclePlan, net) -> tuple[frozenset[int], frozenset[int]]:
    """Crossings on the ego's route: those it can comfortably stop for at the start (pedestrians cross
    them early), and those too close for that (no crossing pedestrian, so the log does not open with
    an emergency stop)."""
    v = ego.v0_mps
    comfortable_m = v**2 / (2 * ego.driver.comfort_decel_mps2) + 10.0
    early, excluded = set(), set()
    for c, s_in, _ in path_crossings(ego.path, net.crossings):
        if s_in > ego.s0_m + ego.front_m:
            (early if s_in - ego.s0_m - ego.front_m > comfortable_m else excluded).add(c)
    return frozenset(early), frozenset(excluded)


def _wrap(angle_rad: np.ndarray) -> np.ndarray:
    return (np.asarray(angle_rad) + np.pi) % (2 * np.pi) - np.pi


def _raised_class(areas: Areas, plaza: shapely.Geometry):
    def classify(xy: np.ndarray) -> np.ndarray:
        out = np.full(len(xy), TERRAIN, np.uint8)
        out[shapely.contains_xy(plaza, xy[:, 0], xy[:, 1])] = OTHER_FLAT
        out[shapely.contains_xy(areas.sidewalk, xy[:, 0], xy[:, 1])] = SIDEWALK
        return out

    return classify


def _raised_rgb(labels: np.ndarray) -> np.ndarray:
    table = np.zeros((32, 3))
    table[SIDEWALK], table[OTHER_FLAT], table[TERRAIN] = SIDEWALK_RGB, PLAZA_RGB, TERRAIN_RGB
    return table[labels]


def _vehicle_tracks(traffic: TrafficResult, times_us: np.ndarray) -> list[AgentTrack]:
    out = []
    for i, plan in enumerate(traffic.plans[1:], start=1):
        steps = np.flatnonzero(traffic.active[:, i])
        if steps.size < 2:
            continue
        h = traffic.heading_rad[steps, i]
        d = np.column_stack([np.cos(h), np.sin(h)])
        xy = traffic.xy_m[steps, i] + plan.ref_to_center_m * d
        z = np.full((len(steps), 1), plan.size_m[2] / 2)
        v = traffic.speed_mps[steps, i]
        if KINDS[plan.kind].attributes[0].startswith("cycle"):
            attr = np.full(len(steps), CYCLE_WITH_RIDER)
        else:
            attr = np.where(v > 0.3, VEHICLE_MOVING, VEHICLE_STOPPED)
        out.append(
            make_track(
                "",
                plan.kind,
                plan.size_m,
                times_us[steps],
                np.hstack([xy, z]),
                _wrap(h),
                v[:, None] * d,
                attr,
                plan.rgb,
            )
        )
    return out


def _pedestrian_tracks(
    peds: list[PedestrianMotion], areas: Areas, cfg: BuildConfig, times_us: np.ndarray
) -> list[AgentTrack]:
    out = []
    for p in peds:
        on_road = shapely.contains_xy(areas.drivable, p.xy_m[:, 0], p.xy_m[:, 1])
        z = np.where(on_road, 0.0, cfg.kerb_height_m) + p.size_m[2] / 2
        attr = np.where(np.linalg.norm(p.velocity_mps, axis=1) > 0.05, MOVING, STANDING)
        centre = np.hstack([p.xy_m, z[:, None]])
        out.append(
            make_track("", p.kind, p.size_m, times_us, centre, _wrap(p.heading_rad), p.velocity_mps, attr, p.rgb)
        )
    return out


def _static_tracks(statics: list[StaticObject], times_us: np.ndarray) -> list[AgentTrack]:
    return [
        static_track("", o.kind, o.size_m, times_us, o.xy_m, o.z_m, float(_wrap(o.yaw_rad)), o.attribute, o.rgb)
        for o in statics
    ]


def _rename(track: AgentTrack, instance: str) -> AgentTrack:
    return replace(track, instance=instance)


def ego_box_corners(ego: EgoTrack, params: VehicleParams | None = None) -> np.ndarray:
    """(T, 4, 2) BEV corners of the ego box (centre ``rear_axle_to_center_m`` ahead of the rear axle)."""
    vp = params or VehicleParams()
    d = np.column_stack([np.cos(ego.yaw_rad), np.sin(ego.yaw_rad)])
    return box_corners(ego.xy_m + vp.rear_axle_to_center_m * d, ego.yaw_rad, vp.width_m, vp.length_m)


def is_moving_track(track: AgentTrack) -> bool:
    """Moving agents: everything except parked vehicles and movable objects (cones, barriers)."""
    return not track.category.startswith("movable_object") and not (
        "vehicle.parked" in track.attribute_names
        and np.all(track.attribute == track.attribute_names.index("vehicle.parked"))
    )


def remove_overlaps(tracks: list[AgentTrack], ego: EgoTrack) -> list[AgentTrack]:
    """Drop agents (never the ego) until no two moving agents and no agent and the ego overlap at any step.

    A safety net behind the traffic model: the agent involved in the most overlaps goes first. Each
    remaining track is unchanged, so removing agents cannot create new overlaps.
    """
    t0 = int(ego.times_us[0])
    n_steps = len(ego.times_us)
    dt = int(ego.times_us[1] - ego.times_us[0])
    present = np.zeros((len(tracks) + 1, n_steps), bool)
    corners = np.zeros((len(tracks) + 1, n_steps, 4, 2))
    present[0], corners[0] = True, ego_box_corners(ego)
    for k, tr in enumerate(tracks, start=1):
        idx = ((tr.times_us - t0) // dt).astype(np.int64)
        present[k, idx] = True
        corners[k, idx] = box_corners(tr.center_m[:, :2], tr.yaw_rad, tr.size_m[0], tr.size_m[1])
    moving = np.array([True] + [is_moving_track(t) for t in tracks])
    pairs = []
    for i in range(len(tracks) + 1):
        for j in range(i + 1, len(tracks) + 1):
            if not (i == 0 or (moving[i] and moving[j])):
                continue
            both = present[i] & present[j]
            if not both.any():
                continue
            far = np.linalg.norm(corners[i, both, 0] - corners[j, both, 0], axis=-1).min() > 30.0
            if not far and boxes_overlap(corners[i, both], corners[j, both]).any():
                pairs.append((i, j))
    removed: set[int] = set()
    while pairs:
        count = np.zeros(len(tracks) + 1, np.int64)
        for i, j in pairs:
            count[i] += 1
            count[j] += 1
        count[0] = -1
        worst = int(np.flatnonzero(count == count.max())[-1])
        removed.add(worst)
        pairs = [(i, j) for i, j in pairs if worst not in (i, j)]
    if removed:
        log.debug("removed %d overlapping agents", len(removed))
    return [t for k, t in enumerate(tracks, start=1) if k not in removed]


def translate_world(spec: WorldSpec, offset_xy_m: np.ndarray) -> WorldSpec:
    """The same world shifted by ``offset_xy_m`` (2,) in x and y."""
    off3 = np.array([offset_xy_m[0], offset_xy_m[1], 0.0])

    def wkt(text: str) -> str:
        return to_map_wkt(shapely.transform(shapely.from_wkt(text), lambda c: c + offset_xy_m))

    layers = {}
    for f in fields(MapLayers):
        items = getattr(spec.map, f.name)
        pairs = f.name in ("lane", "lane_connector")
        layers[f.name] = tuple((wkt(a), wkt(b)) for a, b in items) if pairs else tuple(wkt(a) for a in items)
    return replace(
        spec,
        static=replace(spec.static, vertices_m=spec.static.vertices_m + off3),
        agents=tuple(replace(a, center_m=a.center_m + off3) for a in spec.agents),
        ego=replace(spec.ego, xy_m=spec.ego.xy_m + offset_xy_m),
        map=MapLayers(**layers),
        route_xy_m=spec.route_xy_m + offset_xy_m,
    )
