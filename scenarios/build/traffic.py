"""Vehicle traffic and the expert ego in motion: IDM car-following along the planned routes
(``scenarios.build.vehicles``), first-come junction reservations and yielding to pedestrians at zebra
crossings (``scenarios.build.right_of_way``), curvature speed limits, jerk-limited acceleration.

All vehicles (index 0 = the ego) are simulated together at the simulation rate. A vehicle's path
reference is its box centre, the ego's is its rear axle (nuScenes ego_pose) with the box centre
``rear_axle_to_center_m`` ahead. Obstacles (other vehicles, pedestrians, static objects) are chains of
discs along each box's long axis; a vehicle's leader gap is the arclength to the first sample of its
path ahead whose corridor touches a disc (``scenarios.build.obstacle_discs``).

Each step: the vehicles' poses on their paths, late arrivals spawned, leader gaps, virtual stops
(crossings about to be used, junction stop lines without a reservation, the ego's route end), IDM
acceleration, then the advance along the paths (vehicles leave at their route's end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.rules.idm import interaction_mps2
from scenarios.build.network import RoadNetwork, path_crossings
from scenarios.build.objects import StaticObject
from scenarios.build.obstacle_discs import PEDESTRIAN_RADIUS_M, axis_discs, path_gaps, static_discs
from scenarios.build.pedestrians import PedestrianMotion
from scenarios.build.right_of_way import Reservations, connector_conflicts, crossing_closures
from scenarios.build.vehicles import EGO, VehiclePlan

LOOKAHEAD_M = 50.0
CROSSING_STOP_DECEL_MPS2 = 4.5  # a vehicle that cannot stop with this deceleration before a crossing goes on
MAX_DECEL_MPS2 = 7.0
MAX_JERK_UP_MPS3 = 3.0  # comfort: acceleration builds up (and braking is released) gradually
MAX_JERK_DOWN_MPS3 = 10.0  # braking may build up faster
SPAWN_CLEARANCE_M = 18.0  # a late arrival appears once no active vehicle's centre is this close to its own


@dataclass(frozen=True)
class TrafficResult:
    """Per vehicle (0 = ego) and step: ``active`` (T, N) bool, reference ``xy_m`` (T, N, 2),
    ``heading_rad`` (T, N), ``speed_mps`` (T, N), ``accel_mps2`` (T, N)."""

    plans: tuple[VehiclePlan, ...]
    active: np.ndarray
    xy_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    accel_mps2: np.ndarray


def _pad(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Stack 1D/2D per-vehicle arrays, padding each with its last row up to ``width``."""
    return np.stack([np.concatenate([r, np.repeat(r[-1:], width - len(r), axis=0)]) for r in rows])


@dataclass(frozen=True)
class _Fleet:
    """The N vehicles' fixed data: paths padded to W samples (``path_xy_m`` (N, W, 2), ``path_heading_rad``
    (N, W), curvature speed limit ``vmax_mps`` (N, W)), ``n_pts`` (N,) real samples, sample spacing
    ``ds_m`` (N,), route ``length_m`` (N,), reference-to-centre ``off_m``, ``front_m``, ``rear_m``,
    ``half_width_m``, the IDM parameters (N,), ``spawn`` (N,) steps, the scripted departures
    ``depart_step`` (N,) and emergency stops ``brake_step`` (N,) (-1 none) and ``brake_decel_mps2`` (N,)."""

    path_xy_m: np.ndarray
    path_heading_rad: np.ndarray
    vmax_mps: np.ndarray
    n_pts: np.ndarray
    ds_m: np.ndarray
    length_m: np.ndarray
    off_m: np.ndarray
    front_m: np.ndarray
    rear_m: np.ndarray
    half_width_m: np.ndarray
    v_des_mps: np.ndarray
    a_max_mps2: np.ndarray
    b_cmf_mps2: np.ndarray
    headway_s: np.ndarray
    min_gap_m: np.ndarray
    spawn: np.ndarray
    brake_step: np.ndarray
    brake_decel_mps2: np.ndarray
    depart_step: np.ndarray

    @classmethod
    def of(cls, plans: list[VehiclePlan]) -> _Fleet:
        width = max(len(p.path.s_m) for p in plans)
        curve_v = [np.sqrt(p.driver.max_lat_accel_mps2 / np.maximum(np.abs(p.path.curvature_1pm), 1e-4)) for p in plans]
        return cls(
            path_xy_m=_pad([p.path.xy_m for p in plans], width),
            path_heading_rad=_pad([p.path.heading_rad for p in plans], width),
            vmax_mps=_pad([np.minimum(30.0, c) for c in curve_v], width),
            n_pts=np.array([len(p.path.s_m) for p in plans]),
            ds_m=np.array([p.path.step_m for p in plans]),
            length_m=np.array([p.path.length_m for p in plans]),
            off_m=np.array([p.ref_to_center_m for p in plans]),
            front_m=np.array([p.front_m for p in plans]),
            rear_m=np.array([p.rear_m for p in plans]),
            half_width_m=np.array([p.size_m[0] / 2 for p in plans]),
            v_des_mps=np.array([p.driver.desired_speed_mps for p in plans]),
            a_max_mps2=np.array([p.driver.max_accel_mps2 for p in plans]),
            b_cmf_mps2=np.array([p.driver.comfort_decel_mps2 for p in plans]),
            headway_s=np.array([p.driver.headway_s for p in plans]),
            min_gap_m=np.array([p.driver.min_gap_m for p in plans]),
            spawn=np.array([p.spawn_step for p in plans]),
            brake_step=np.array([p.brake_step for p in plans]),
            brake_decel_mps2=np.array([p.brake_decel_mps2 for p in plans]),
            depart_step=np.array([p.depart_step for p in plans]),
        )

    @property
    def look_n(self) -> int:
        """Path samples in the lookahead (``LOOKAHEAD_M`` at the coarsest spacing's count)."""
        return int((LOOKAHEAD_M / self.ds_m).astype(np.int64).max())


@dataclass(frozen=True)
class _RouteCrossings:
    """The crossings along each route: ``crossing`` (N, K) index (-1 padding) and ``entry_s_m`` (N, K)
    entry arclength (inf padding); ``closed`` (C, T) bool from ``crossing_closures``."""

    crossing: np.ndarray
    entry_s_m: np.ndarray
    closed: np.ndarray

    @classmethod
    def of(
        cls, plans: list[VehiclePlan], net: RoadNetwork, peds: list[PedestrianMotion], n_steps: int, dt_s: float
    ) -> _RouteCrossings:
        n = len(plans)
        cross = [path_crossings(p.path, net.crossings) for p in plans]
        kc = max(1, max(len(c) for c in cross))
        cross_id = np.full((n, kc), -1)
        cross_in = np.full((n, kc), np.inf)
        for i, cs in enumerate(cross):
            for j, (c, a, _) in enumerate(cs):
                cross_id[i, j], cross_in[i, j] = c, a
        return cls(cross_id, cross_in, crossing_closures(net, peds, n_steps, dt_s))


@dataclass(frozen=True)
class _Obstacles:
    """Obstacle discs: the vehicles' (``disc_owner`` (D,) vehicle, ``disc_along_m`` (D,) offset along its
    axis; they move every step), then the fixed ones: static objects' and unannotated static
    geometry's (debris; ``static_xy_m`` (S, 2)) and one per pedestrian (``ped_xy_m`` / ``ped_v_mps``
    (P, T, 2)); ``fixed_r_m`` (S + P,) radii, ``fixed_owner`` (S + P,) -1."""

    disc_owner: np.ndarray
    disc_along_m: np.ndarray
    static_xy_m: np.ndarray
    ped_xy_m: np.ndarray
    ped_v_mps: np.ndarray
    fixed_r_m: np.ndarray
    fixed_owner: np.ndarray

    @classmethod
    def of(
        cls,
        plans: list[VehiclePlan],
        statics: list[StaticObject],
        peds: list[PedestrianMotion],
        n_steps: int,
        extra_discs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> _Obstacles:
        disc_owner = np.concatenate(
            [np.full(len(axis_discs(p.size_m[0], p.size_m[1])), i) for i, p in enumerate(plans)]
        )
        disc_along = np.concatenate([axis_discs(p.size_m[0], p.size_m[1]) for p in plans])
        st_xy, st_r = static_discs(statics)
        if extra_discs is not None:
            st_xy, st_r = np.concatenate([st_xy, extra_discs[0]]), np.concatenate([st_r, extra_discs[1]])
        ped_xy = np.stack([p.xy_m for p in peds]) if peds else np.zeros((0, n_steps, 2))
        ped_v = np.stack([p.velocity_mps for p in peds]) if peds else np.zeros((0, n_steps, 2))
        fixed_r = np.concatenate([st_r, np.full(len(peds), PEDESTRIAN_RADIUS_M)])
        return cls(disc_owner, disc_along, st_xy, ped_xy, ped_v, fixed_r, np.full(len(fixed_r), -1, np.int64))


def _poses(fleet: _Fleet, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At arclengths ``s`` (N,): the path sample before each (N,) int64, reference ``xy`` (N, 2) and
    heading (N,) interpolated between samples, unit heading vectors (N, 2) and box centres (N, 2)."""
    rows = np.arange(len(s))
    f = np.clip(s / fleet.ds_m, 0, fleet.n_pts - 1.001)
    i0 = np.floor(f).astype(np.int64)
    w = f - i0
    xy = fleet.path_xy_m[rows, i0] * (1 - w[:, None]) + fleet.path_xy_m[rows, i0 + 1] * w[:, None]
    h = fleet.path_heading_rad[rows, i0] * (1 - w) + fleet.path_heading_rad[rows, i0 + 1] * w
    dirs = np.column_stack([np.cos(h), np.sin(h)])
    centre = xy + fleet.off_m[:, None] * dirs
    return i0, xy, h, dirs, centre


def _spawn_late(fleet: _Fleet, t: int, active: np.ndarray, gone: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``active`` with the late arrivals due by step ``t`` whose lane entry is clear switched on (in
    vehicle order: one appearing this step counts for the next)."""
    active = active.copy()
    for i in np.flatnonzero((fleet.spawn <= t) & ~active & ~gone):
        others = np.flatnonzero(active)
        active[i] = others.size == 0 or np.min(np.linalg.norm(centre[others] - centre[i], axis=1)) > SPAWN_CLEARANCE_M
    return active


def _leader_gaps(
    fleet: _Fleet,
    obstacles: _Obstacles,
    t: int,
    s: np.ndarray,
    v: np.ndarray,
    active: np.ndarray,
    dirs: np.ndarray,
    centre: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each vehicle's gap (N,) to the first obstacle disc on its path ahead and that obstacle's speed along
    the path (N,), among the active vehicles' discs, the static objects' and the pedestrians' at ``t``."""
    ob = obstacles
    owner = ob.disc_owner
    veh = active[owner]
    front_idx = np.ceil((s + fleet.front_m) / fleet.ds_m).astype(np.int64)
    vehicle_xy = (centre[owner] + ob.disc_along_m[:, None] * dirs[owner])[veh]
    return path_gaps(
        fleet.path_xy_m, fleet.path_heading_rad, fleet.n_pts, front_idx, fleet.look_n, fleet.half_width_m, active,
        np.concatenate([vehicle_xy, ob.static_xy_m, ob.ped_xy_m[:, t]]),
        np.concatenate([fleet.half_width_m[owner][veh], ob.fixed_r_m]),
        np.concatenate([owner[veh], ob.fixed_owner]),
        np.concatenate([(v[:, None] * dirs)[owner][veh], np.zeros((len(ob.static_xy_m), 2)), ob.ped_v_mps[:, t]]),
        fleet.ds_m,
    )  # fmt: skip


def _crossing_stops(crossings: _RouteCrossings, t: int, s_front: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Distance (N,) from each vehicle's front to 1 m before the first crossing ahead that is closed at
    ``t`` and that it can still stop for (``CROSSING_STOP_DECEL_MPS2``), else inf."""
    dist = crossings.entry_s_m - 1.0 - s_front[:, None]
    is_closed = np.where(crossings.crossing >= 0, crossings.closed[np.maximum(crossings.crossing, 0), t], False)
    can_stop = dist >= (v**2 / (2 * CROSSING_STOP_DECEL_MPS2))[:, None]
    return np.where((crossings.entry_s_m > s_front[:, None]) & is_closed & can_stop, dist, np.inf).min(axis=1)


def _virtual_stops(
    fleet: _Fleet,
    crossings: _RouteCrossings,
    reservations: Reservations,
    t: int,
    s: np.ndarray,
    v: np.ndarray,
    active: np.ndarray,
    gone: np.ndarray,
) -> np.ndarray:
    """Distance (N,) to each vehicle's nearest virtual stop: a crossing about to be used, its junction stop
    line without a reservation (a vehicle held by a crossing before its stop line does not request), and
    for the ego its route's end."""
    s_front = s + fleet.front_m
    yield_at = _crossing_stops(crossings, t, s_front, v)
    held_before_junction = yield_at < reservations.stop_s - s_front + 0.5
    virtual = np.minimum(
        reservations.update(t, active & ~held_before_junction, gone, s_front, s - fleet.rear_m), yield_at
    )
    virtual[EGO] = min(virtual[EGO], fleet.length_m[EGO] - s_front[EGO] - 1.0)  # the ego stops at its route's end
    return virtual


def _acceleration(
    fleet: _Fleet,
    i0: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    acc: np.ndarray,
    gap: np.ndarray,
    lead_v: np.ndarray,
    virtual: np.ndarray,
    dt_s: float,
) -> np.ndarray:
    """IDM acceleration (N,) towards a curvature-limited desired speed (a speed limit ahead is reached
    braking at the comfortable deceleration), behind the leader and the virtual stop, bounded by
    ``MAX_DECEL_MPS2`` and the jerk limits from the current ``acc``."""
    rows = np.arange(len(s))
    width = fleet.path_xy_m.shape[1]
    a_max, b_cmf = fleet.a_max_mps2, fleet.b_cmf_mps2
    idx = np.minimum(i0[:, None] + np.arange(fleet.look_n)[None, :], width - 1)
    ahead_m = np.maximum(0.0, idx * fleet.ds_m[:, None] - s[:, None])
    v_curve = np.sqrt(fleet.vmax_mps[rows[:, None], idx] ** 2 + 2 * b_cmf[:, None] * ahead_m).min(axis=1)
    v0 = np.maximum(0.1, np.minimum(fleet.v_des_mps, v_curve))
    free = np.maximum(a_max * (1 - (v / v0) ** 4), -b_cmf)
    target = free + np.minimum(
        interaction_mps2(v, gap, v - lead_v, fleet.min_gap_m, fleet.headway_s, a_max, b_cmf),
        interaction_mps2(v, virtual, v, fleet.min_gap_m, fleet.headway_s, a_max, b_cmf),
    )
    target = np.clip(target, -MAX_DECEL_MPS2, a_max)
    return np.clip(target, acc - MAX_JERK_DOWN_MPS3 * dt_s, acc + MAX_JERK_UP_MPS3 * dt_s)


def _scripted(fleet: _Fleet, t: int, acc_prev: np.ndarray, acc: np.ndarray, dt_s: float) -> np.ndarray:
    """``acc`` (N,) with the scripted vehicles' overrides at step ``t``: 0 before their ``depart_step``;
    from their ``brake_step`` on, their ``brake_decel_mps2`` built up at ``MAX_JERK_DOWN_MPS3`` from
    ``acc_prev``."""
    braking = (fleet.brake_step >= 0) & (t >= fleet.brake_step)
    hard = np.maximum(-fleet.brake_decel_mps2, acc_prev - MAX_JERK_DOWN_MPS3 * dt_s)
    return np.where(t < fleet.depart_step, 0.0, np.where(braking, hard, acc))


def _advance(
    fleet: _Fleet, s: np.ndarray, v: np.ndarray, acc: np.ndarray, active: np.ndarray, gone: np.ndarray, dt_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of the active vehicles at ``acc`` (speed kept >= 0; a stopped vehicle's acceleration reads
    0): new (s, v, acc, active, gone); vehicles other than the ego that reach their route's end leave."""
    v_new = np.maximum(0.0, v + acc * dt_s)
    acc = np.where(active & (v_new > 0), acc, 0.0)
    s = np.where(active, s + 0.5 * (v + v_new) * dt_s, s)
    v = np.where(active, v_new, v)
    leaving = active & (s + fleet.front_m >= fleet.length_m - 0.2)
    leaving[EGO] = False
    return s, v, acc, active & ~leaving, gone | leaving


def simulate(
    plans: list[VehiclePlan],
    net: RoadNetwork,
    peds: list[PedestrianMotion],
    statics: list[StaticObject],
    n_steps: int,
    dt_s: float,
    extra_discs: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrafficResult:
    """Step all vehicles with IDM, junction reservations and crossing yielding; vehicles leave at the route end.

    ``extra_discs`` (centres (M, 2), radii (M,)) are obstacles of static geometry without a box
    (a scenario's debris) that the drivers stop for like static objects."""
    n = len(plans)
    fleet = _Fleet.of(plans)
    reservations = Reservations(plans, connector_conflicts(net))
    crossings = _RouteCrossings.of(plans, net, peds, n_steps, dt_s)
    obstacles = _Obstacles.of(plans, statics, peds, n_steps, extra_discs)
    s = np.array([p.s0_m for p in plans])
    v = np.array([p.v0_mps for p in plans])
    acc = np.zeros(n)
    active = fleet.spawn == 0
    gone = np.zeros(n, bool)
    out = TrafficResult(
        tuple(plans),
        np.zeros((n_steps, n), bool),
        np.zeros((n_steps, n, 2)),
        np.zeros((n_steps, n)),
        np.zeros((n_steps, n)),
        np.zeros((n_steps, n)),
    )
    for t in range(n_steps):
        i0, xy, h, dirs, centre = _poses(fleet, s)
        out.active[t], out.xy_m[t], out.heading_rad[t], out.speed_mps[t], out.accel_mps2[t] = active, xy, h, v, acc
        if t == n_steps - 1:
            break
        active = _spawn_late(fleet, t, active, gone, centre)
        gap, lead_v = _leader_gaps(fleet, obstacles, t, s, v, active, dirs, centre)
        virtual = _virtual_stops(fleet, crossings, reservations, t, s, v, active, gone)
        acc_next = _acceleration(fleet, i0, s, v, acc, gap, lead_v, virtual, dt_s)
        acc = _scripted(fleet, t, acc, acc_next, dt_s)
        s, v, acc, active, gone = _advance(fleet, s, v, acc, active, gone, dt_s)
    return out
