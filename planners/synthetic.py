"""Synthetic planner inputs: a road around a route with sidewalks, box obstacles with flow, and
random valid inputs. Used by the planner checker, the planner benchmark and the tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from occplan.interfaces import PlannerInit, PlannerInput, PrivilegedPlannerInit
from occplan.types import (
    Command,
    EgoState,
    GridSpec,
    LabelSet,
    MapInfo,
    OccupancyPrediction,
    Scenario,
    Trajectory,
    TrajectorySampling,
    VehicleParams,
)
from occplan.types.route import DEFAULT_SPEED_LIMIT_MPS, LaneRoute
from planners.route import Path


@dataclass(frozen=True)
class BoxObstacle:
    """An upright box standing on the ground: centre (x, y) m, yaw, velocity (vx, vy) m/s, all in the
    ego frame; ``label`` an Occ3D class name."""

    center_xy_m: tuple[float, float]
    length_m: float = 4.5
    width_m: float = 1.9
    height_m: float = 1.6
    yaw_rad: float = 0.0
    velocity_mps: tuple[float, float] = (0.0, 0.0)
    label: str = "car"


def straight_route(length_m: float = 80.0, step_m: float = 1.0, lateral_m: float = 0.0) -> np.ndarray:
    """(K, 2) route straight ahead along x from the ego, at a constant lateral offset."""
    x = np.arange(0.0, length_m + step_m / 2, step_m)
    return np.column_stack([x, np.full_like(x, lateral_m)])


def arc_route(radius_m: float, length_m: float = 60.0, step_m: float = 1.0, left: bool = True) -> np.ndarray:
    """(K, 2) route leaving the ego along x and bending with constant radius (left or right)."""
    a = np.arange(0.0, length_m + step_m / 2, step_m) / radius_m
    sign = 1.0 if left else -1.0
    return np.column_stack([radius_m * np.sin(a), sign * radius_m * (1 - np.cos(a))])


def road_scene(
    route_xy_m: np.ndarray,
    obstacles: Sequence[BoxObstacle] = (),
    road_half_width_m: float = 5.0,
    sidewalk_width_m: float = 2.5,
    ground_k: int = 2,
    grid: GridSpec | None = None,
) -> tuple[OccupancyPrediction, np.ndarray]:
    """Occ3D occupancy (+ flow) of a road of half width ``road_half_width_m`` centred on the route
    (extended straight at both ends), sidewalks beside it, terrain beyond, ground in voxel layer
    ``ground_k``, and the obstacles above the ground. Returns the prediction and the (X, Y) drivable raster."""
    grid = grid or GridSpec.occ3d_nuscenes()
    labels = LabelSet.occ3d()
    nx, ny, nz = grid.shape
    centres = grid.all_centers()[:, :, 0, :2]
    path = Path.from_polyline(route_xy_m, extend_back_m=80.0, extend_front_m=80.0)
    assert path is not None, "road_scene: route shorter than 0.5 m"
    _, lat = path.project(centres)
    dist = np.abs(lat)
    ground = np.full((nx, ny), labels.index("terrain"), np.uint8)
    ground[dist <= road_half_width_m + sidewalk_width_m] = labels.index("sidewalk")
    drivable = dist <= road_half_width_m
    ground[drivable] = labels.index("driveable_surface")
    sem = np.full(grid.shape, labels.free_index, np.uint8)
    sem[:, :, ground_k] = ground
    flow = np.zeros((*grid.shape, 2), np.float32)
    z_lo = grid.range_min_m[2] + np.arange(nz) * grid.voxel_size_m
    ground_top = z_lo[ground_k] + grid.voxel_size_m
    for ob in obstacles:
        c, s = np.cos(ob.yaw_rad), np.sin(ob.yaw_rad)
        rel = centres - np.asarray(ob.center_xy_m)
        lx, ly = rel[..., 0] * c + rel[..., 1] * s, -rel[..., 0] * s + rel[..., 1] * c
        inside = (np.abs(lx) <= ob.length_m / 2) & (np.abs(ly) <= ob.width_m / 2)
        layers = (z_lo >= ground_top - 1e-6) & (z_lo < ground_top + ob.height_m)
        cells = inside[:, :, None] & layers[None, None, :]
        sem[cells] = labels.index(ob.label)
        flow[cells] = np.asarray(ob.velocity_mps, np.float32)
    return OccupancyPrediction(sem, grid, labels, flow=flow), drivable


def make_input(
    occupancy: OccupancyPrediction,
    speed_mps: float,
    route_xy_m: np.ndarray,
    drivable_bev: np.ndarray | None = None,
    command: Command = Command.STRAIGHT,
    log_future: Trajectory | None = None,
    sampling: TrajectorySampling | None = None,
    goal_xy_m: np.ndarray | None = None,
) -> PlannerInput:
    """A PlannerInput with the ego at the origin driving straight at ``speed_mps`` (history consistent);
    the route's source is "map_lanes" when ``route_xy_m`` has points, else "none"."""
    route = np.asarray(route_xy_m, dtype=np.float64).reshape(-1, 2)
    sampling = sampling or TrajectorySampling()
    hist_t = -np.arange(4, 0, -1) * sampling.interval_s
    history = np.column_stack([speed_mps * hist_t, np.zeros(4), np.zeros(4)])
    return PlannerInput(
        time_us=0,
        occupancy=occupancy,
        ego_state=EgoState(time_us=0, x_m=0.0, y_m=0.0, yaw_rad=0.0, speed_mps=float(speed_mps)),
        ego_history=history,
        route_xy_m=route,
        command=command,
        drivable_bev=drivable_bev,
        log_future=log_future,
        sampling=sampling,
        route_source="map_lanes" if len(route) else "none",
        goal_xy_m=None if goal_xy_m is None else np.asarray(goal_xy_m, dtype=np.float64),
    )


def make_init(privileged: bool = False, route: LaneRoute | None = None) -> PlannerInit:
    """A PlannerInit without a map (route ``route`` or none); ``privileged`` gives a PrivilegedPlannerInit
    with an empty Scenario and a straight logged path."""
    route = route or LaneRoute.none("synthetic input without a map", DEFAULT_SPEED_LIMIT_MPS)
    base = ("synthetic", route, MapInfo("synthetic", "none"), VehicleParams(), np.array([80.0, 0.0, 0.0]))
    if not privileged:
        return PlannerInit(*base)
    scenario = Scenario("synthetic", "synthetic", "synthetic", (), base[2], "", "")
    return PrivilegedPlannerInit(*base, scenario=scenario, expert_path_xy_m=straight_route())


def random_input(rng: np.random.Generator, grid: GridSpec | None = None) -> PlannerInput:
    """A random but valid PlannerInput: random labels and flow, speed, yaw rate, route (possibly empty
    or degenerate), drivable raster (or None), command and logged future."""
    grid = grid or GridSpec.occ3d_nuscenes()
    labels = LabelSet.occ3d()
    sem = np.where(rng.random(grid.shape) < rng.uniform(0.0, 0.3), rng.integers(0, 17, grid.shape), 17).astype(np.uint8)
    flow = rng.normal(0.0, rng.uniform(0.0, 5.0), (*grid.shape, 2)).astype(np.float32)
    occ = OccupancyPrediction(sem, grid, labels, flow=flow if rng.random() < 0.7 else None)
    kind = rng.integers(0, 4)
    if kind == 0:
        route = np.zeros((0, 2))
    elif kind == 1:
        route = np.zeros((int(rng.integers(1, 4)), 2))  # degenerate: repeated points
    else:
        route = arc_route(rng.uniform(8.0, 200.0), rng.uniform(5.0, 100.0), left=bool(rng.random() < 0.5))
        route = route + rng.normal(0.0, 2.0, 2)
    speed = float(rng.uniform(0.0, 20.0))
    sampling = TrajectorySampling()
    fut = Trajectory(np.cumsum(rng.normal([speed * 0.5, 0, 0], [1.0, 0.5, 0.05], (6, 3)), axis=0), sampling)
    inp = make_input(
        occ,
        speed,
        route,
        drivable_bev=(rng.random(grid.shape[:2]) < 0.7) if rng.random() < 0.5 else None,
        command=Command(int(rng.integers(0, 3))),
        log_future=fut,
        sampling=sampling,
    )
    ego = EgoState(
        time_us=0,
        x_m=float(rng.normal(0, 100)),
        y_m=float(rng.normal(0, 100)),
        yaw_rad=float(rng.uniform(-np.pi, np.pi)),
        speed_mps=speed,
        accel_mps2=float(rng.normal(0, 1.5)),
        yaw_rate_radps=float(rng.normal(0, 0.3)),
    )
    return replace(inp, ego_state=ego)


def traffic_input(rng: np.random.Generator) -> PlannerInput:
    """A plausible urban decision: straight or curved two-way road, parked cars along the kerbs,
    moving cars in both lanes (with flow), pedestrians on the sidewalks, one of them crossing."""
    radius = float(rng.choice([np.inf, 40.0, 80.0, -60.0]))
    route = straight_route(90.0) if np.isinf(radius) else arc_route(abs(radius), 90.0, left=radius > 0)
    path = Path.from_polyline(route, extend_back_m=40.0)
    assert path is not None
    s0, _ = path.project(np.zeros((1, 2)))

    def at(s_m: float, lat_m: float) -> tuple[tuple[float, float], float]:
        p = path.sample(np.array(s0[0] + s_m), np.array(lat_m))
        return (float(p[0]), float(p[1])), float(p[2])

    obstacles = []
    for s in rng.uniform(-30.0, 40.0, 6):  # parked along both kerbs
        xy, yaw = at(float(s), float(rng.choice([-4.3, 4.3])))
        obstacles.append(BoxObstacle(xy, yaw_rad=yaw))
    for s in rng.uniform(10.0, 45.0, 2):  # same direction, ahead in the ego lane / the other lane
        xy, yaw = at(float(s), float(rng.choice([0.0, 3.0])))
        v = rng.uniform(3.0, 10.0)
        obstacles.append(BoxObstacle(xy, yaw_rad=yaw, velocity_mps=(v * np.cos(yaw), v * np.sin(yaw))))
    xy, yaw = at(float(rng.uniform(20.0, 45.0)), 3.0)  # oncoming
    v = -rng.uniform(5.0, 10.0)
    obstacles.append(BoxObstacle(xy, yaw_rad=yaw, velocity_mps=(v * np.cos(yaw), v * np.sin(yaw))))
    for s in rng.uniform(-10.0, 40.0, 4):  # pedestrians on the sidewalks
        xy, _ = at(float(s), float(rng.choice([-6.5, 6.5])))
        obstacles.append(BoxObstacle(xy, 0.6, 0.6, 1.7, label="pedestrian"))
    xy, yaw = at(float(rng.uniform(25.0, 40.0)), -6.0)  # crossing pedestrian
    obstacles.append(
        BoxObstacle(xy, 0.6, 0.6, 1.7, label="pedestrian", velocity_mps=(-1.4 * np.sin(yaw), 1.4 * np.cos(yaw)))
    )
    occ, drivable = road_scene(route, obstacles, road_half_width_m=6.0, sidewalk_width_m=3.0)
    return make_input(occ, float(rng.uniform(4.0, 12.0)), route, drivable if rng.random() < 0.5 else None)
