"""Who may go: first-come junction reservations among conflicting connectors, and zebra crossings closed
while a pedestrian is about to use them (the vehicles' virtual stop lines in ``scenarios.build.traffic``)."""

from __future__ import annotations

import numpy as np
import shapely

from scenarios.build.network import RoadNetwork
from scenarios.build.pedestrians import PedestrianMotion
from scenarios.build.vehicles import EGO, VehiclePlan

REQUEST_DISTANCE_M = 20.0
CROSSING_ANTICIPATION_S = 4.0  # a crossing closes this long before a pedestrian steps on it


def connector_conflicts(net: RoadNetwork) -> np.ndarray:
    """(C, C) bool: connectors whose swept corridors (1.6 m either side) intersect, except connectors leaving
    the same incoming lane (vehicles on them follow each other; car-following keeps them apart)."""
    if not net.junctions:
        return np.zeros((0, 0), bool)
    conns = net.junctions[0].connectors
    geoms = np.array([net.lanes[k].path.linestring().buffer(1.6) for k in conns], dtype=object)
    source = np.array([next(i for i, ln in enumerate(net.lanes) if k in ln.successors) for k in conns])
    return shapely.intersects(geoms[:, None], geoms[None, :]) & (source[:, None] != source[None, :])


def crossing_closures(net: RoadNetwork, peds: list[PedestrianMotion], n_steps: int, dt_s: float) -> np.ndarray:
    """(C, T) bool: crossing c is closed at step t when a pedestrian is on it within the next
    ``CROSSING_ANTICIPATION_S`` (the scripted pedestrians' intent is known)."""
    closed = np.zeros((max(1, len(net.crossings)), n_steps), bool)
    if not peds:
        return closed
    ped_xy = np.stack([p.xy_m for p in peds])  # (P, T, 2)
    window = round(CROSSING_ANTICIPATION_S / dt_s)
    later = np.minimum(np.arange(n_steps) + window + 1, n_steps)
    for c, cr in enumerate(net.crossings):
        on = shapely.contains_xy(cr.polygon, ped_xy[..., 0], ped_xy[..., 1]).any(axis=0)
        count = np.concatenate([[0], np.cumsum(on)])
        closed[c] = count[later] > count[:n_steps]
    return closed


class Reservations:
    """First-come-first-served junction reservations, strict among conflicting connectors.

    A vehicle requests its connector ``REQUEST_DISTANCE_M`` before its stop line; requests are served
    in order (ties: the vehicle nearer its stop line first) and a request that conflicts with a held or
    an earlier pending connector waits. The expert ego's request is served first (it still waits for
    held conflicting connectors), so that its demonstration reaches its turn within the scene. A
    reservation is released once the vehicle's rear has left the connector (or it has left the scene).
    """

    def __init__(self, plans: list[VehiclePlan], conflicts: np.ndarray) -> None:
        n = len(plans)
        self.conflicts = conflicts
        self.conn = np.array([p.connector for p in plans])
        self.stop_s = np.array([p.stop_s_m for p in plans])
        self.conn_end_s = np.array([p.connector_end_s_m for p in plans])
        self.req_step = np.full(n, -1)
        self.granted = np.zeros(n, bool)
        self.released = np.zeros(n, bool)

    def update(
        self, t: int, ready: np.ndarray, gone: np.ndarray, s_front: np.ndarray, s_rear: np.ndarray
    ) -> np.ndarray:
        """Advance to step ``t``; return the distance (n,) to the stop line of vehicles that must hold, else inf.

        Only ``ready`` vehicles may request (a vehicle still held by a crossing before its stop line withdraws
        its pending request, so it does not block the junction while it waits).
        """
        has = self.conn >= 0
        self.req_step[~ready & ~self.granted] = -1
        self.req_step[has & ready & (self.req_step < 0) & (s_front > self.stop_s - REQUEST_DISTANCE_M)] = t
        self.released |= self.granted & ((s_rear > self.conn_end_s + 1.0) | gone)
        taken = [int(self.conn[i]) for i in np.flatnonzero(self.granted & ~self.released)]
        waiting = np.flatnonzero(ready & (self.req_step >= 0) & ~self.granted)
        for i in sorted(waiting, key=lambda k: (k != EGO, self.req_step[k], self.stop_s[k] - s_front[k])):
            if not any(self.conflicts[self.conn[i], c] for c in taken):
                self.granted[i] = True
            taken.append(int(self.conn[i]))
        hold = has & ~self.granted & (s_front < self.stop_s + 0.5)
        return np.where(hold, self.stop_s - s_front, np.inf)
