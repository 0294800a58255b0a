"""Reactive IDM vehicles on a hand-made road: they keep to their logged paths, follow a leader and
stop behind a parked car without ever overlapping anything."""

from __future__ import annotations

import numpy as np

from occplan.rules.footprint import box_corners, boxes_overlap
from occplan.sim.agent_table import AgentTable
from occplan.sim.agents import AgentArrays, IDMState, IDMTracks, idm_arrays, idm_step
from occplan.sim.config import IDMConfig
from occplan.world.spec import AgentTrack

DT_S = 0.1
TIMES_US = np.arange(0, 20_000_001, 100_000, dtype=np.int64)


def _track(name: str, x0_m: float, speed_mps: float) -> AgentTrack:
    """A car driving along +x (y = 0) at constant speed for 20 s, logged at 10 Hz."""
    t = TIMES_US * 1e-6
    n = len(t)
    center = np.column_stack([x0_m + speed_mps * t, np.zeros(n), np.full(n, 0.8)])
    return AgentTrack(
        name, "vehicle.car", 17, np.array([1.9, 4.5, 1.6]), TIMES_US, center, np.zeros(n),
        np.column_stack([np.full(n, speed_mps), np.zeros(n)]), np.zeros(n, np.int16), ("vehicle.moving",),
    )  # fmt: skip


def test_idm_follows_its_leader_and_stops_behind_a_parked_car():
    table = AgentTable.from_tracks(
        [_track("follower", 0.0, 12.0), _track("leader", 25.0, 9.0), _track("parked", 150.0, 0.0)], TIMES_US
    )
    cfg = IDMConfig(speed_jitter=0.0)
    tracks = IDMTracks.from_table(table, cfg, np.random.default_rng(0))
    assert [table.instance[i] for i in tracks.agent] == ["follower", "leader"]  # the parked car is replayed
    far_ego = np.array([0.0, 500.0, 0.0, 1.85, 4.08, 0.0, 0.0])
    state = idm_step(tracks, table, IDMState.initial(tracks), 0, 0.0, AgentArrays.replayed(table, 0), far_ego, cfg)
    for row in range(len(TIMES_US) - 1):
        others = AgentArrays.replayed(table, row, tracks.replayed) + idm_arrays(tracks, table, state, row)
        state = idm_step(tracks, table, state, row, DT_S, others, far_ego, cfg)
        now = AgentArrays.replayed(table, row + 1, tracks.replayed) + idm_arrays(tracks, table, state, row + 1)
        corners = box_corners(now.center_m[:, :2], now.size_m[:, :2], now.yaw_rad)
        for a in range(len(corners)):  # no two agents overlap, ever
            assert not np.any(np.delete(boxes_overlap(corners[a], corners), a))
        assert np.allclose(now.center_m[:, 1], 0.0)  # on the logged path (y = 0)
    final = idm_arrays(tracks, table, state, len(TIMES_US) - 1)
    follower_x, leader_x = final.center_m[:, 0]
    assert np.all(state.speed_mps < 1.0)  # queued (nearly stopped) behind the parked car
    gap_m = cfg.params.min_gap_m
    assert 150.0 - 4.5 - leader_x > 0.5 * gap_m and leader_x - 4.5 - follower_x > 0.5 * gap_m
