"""``episode_history``: the ``EpisodeHistory`` of a simulated episode, from its state's records."""

from __future__ import annotations

import numpy as np

from occplan.sim.state import SimState
from occplan.types import EgoState, VehicleParams
from occplan.types.history import EpisodeHistory


def _box_centers(states: list[EgoState], vehicle: VehicleParams) -> np.ndarray:
    """(T, 3) x, y, yaw of the box centres of rear-axle ego states (the footprint rule's centre)."""
    v = np.array([[s.x_m, s.y_m, s.yaw_rad] for s in states], dtype=np.float64)
    ahead = vehicle.rear_axle_to_center_m
    return np.column_stack([v[:, 0] + ahead * np.cos(v[:, 2]), v[:, 1] + ahead * np.sin(v[:, 2]), v[:, 2]])


def _kinematics(states: list[EgoState]) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) world velocity and acceleration of the rear axle (longitudinal + v * yaw rate across)."""
    yaw = np.array([s.yaw_rad for s in states])
    speed = np.array([s.speed_mps for s in states])
    lon = np.array([s.accel_mps2 for s in states])
    lat = speed * np.array([s.yaw_rate_radps for s in states])
    fwd = np.column_stack([np.cos(yaw), np.sin(yaw)])
    left = np.column_stack([-fwd[:, 1], fwd[:, 0]])
    return speed[:, None] * fwd, lon[:, None] * fwd + lat[:, None] * left


def _wkb_bytes(wkb: bytes | None) -> np.ndarray:
    return np.frombuffer(wkb, np.uint8).copy() if wkb else np.zeros(0, np.uint8)


def episode_history(state: SimState, route_xy_m: np.ndarray | None = None) -> EpisodeHistory:
    """The episode up to ``state`` at every substep. ``route_xy_m`` (K, 2) world frame: the route
    handed to the planner (None = no route). The expert is the logged ego at the same times."""
    ctx = state.context
    records = state.records
    vehicle = ctx.config.vehicle
    egos = [r.ego for r in records]
    experts = [r.log_ego if r.log_ego is not None else ctx.log.state_at(r.time_us) for r in records]
    tokens: dict[str, int] = {}
    classes: list[str] = []
    for r in records:
        for a in r.agents:
            if a.instance not in tokens:
                tokens[a.instance] = len(tokens)
                classes.append(a.category)
    t, n = len(records), len(tokens)
    boxes = np.full((t, n, 5), np.nan)
    velocity = np.full((t, n, 2), np.nan)
    for i, r in enumerate(records):
        for a in r.agents:
            k = tokens[a.instance]
            boxes[i, k] = (a.center_m[0], a.center_m[1], a.yaw_rad, a.size_m[1], a.size_m[0])
            velocity[i, k] = a.velocity_mps
    contacts = [(i, r.occ_contact_xy_m) for i, r in enumerate(records) if r.occ_contact_xy_m is not None]
    contact_index = np.concatenate([np.full(len(xy), i, np.int64) for i, xy in contacts]) if contacts else None
    ego_velocity, ego_accel = _kinematics(egos)
    start_us = ctx.log.start_us
    return EpisodeHistory(
        scenario=ctx.scenario.name,
        mode=ctx.config.mode,
        start_time_us=start_us,
        time_s=np.array([(r.time_us - start_us) * 1e-6 for r in records]),
        ego_center=_box_centers(egos, vehicle),
        ego_size=np.array([vehicle.length_m, vehicle.width_m, vehicle.height_m]),
        ego_rear_axle_to_center_m=float(vehicle.rear_axle_to_center_m),
        ego_velocity=ego_velocity,
        ego_acceleration=ego_accel,
        ego_yaw_rate=np.array([s.yaw_rate_radps for s in egos]),
        agent_token=np.array(list(tokens), dtype=str),
        agent_class=np.array(classes, dtype=str),
        agent_boxes=boxes,
        agent_velocity=velocity,
        expert_center=_box_centers(experts, vehicle),
        route_xy=np.zeros((0, 2)) if route_xy_m is None else np.asarray(route_xy_m, np.float64).reshape(-1, 2),
        static_contact_index=contact_index if contact_index is not None else np.zeros(0, np.int64),
        static_contact_xy=np.concatenate([xy for _, xy in contacts]) if contacts else np.zeros((0, 2)),
        drivable_wkb=_wkb_bytes(ctx.scenario.map.drivable_wkb),
        lanes_wkb=_wkb_bytes(ctx.scenario.map.lanes_wkb),
    )
