"""Episode histories of simulated episodes: the simulator's collision and off-road flags equal the
closed-loop metric's on the recorded history, static contacts are checked at every substep, and a
history re-scores to the same values after a file round trip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from occplan.metrics.closed_loop import agent_contacts, closed_loop_scores, offroad_rows, static_objects
from occplan.sim import Control, SimConfig, Simulator
from occplan.types import EpisodeHistory, LabelSet
from occplan.world import World


@pytest.fixture(scope="module")
def loaded(tiny_scenes):
    return tiny_scenes.load("scene-0001")


def _episode(sim: Simulator, loaded, drive) -> tuple:
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    while not sim.done(state):
        state = drive(sim, state)
    return state, sim.episode_history(state)


DRIVERS = {
    "log": lambda sim, s: sim.step(s, sim.log_future(s)),
    "left_turn": lambda sim, s: sim.step_control(s, Control(1.0, 0.4)),
    "full_throttle": lambda sim, s: sim.step_control(s, Control(3.0, 0.0)),
    "reverse_right": lambda sim, s: sim.step_control(s, Control(-2.0, -0.3)),
}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_simulator_flags_equal_the_metric_on_the_history(loaded, driver):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state, history = _episode(sim, loaded, DRIVERS[driver])
    offroad = offroad_rows(history)
    assert offroad is not None
    assert state.offroad == bool(offroad.any())
    assert state.collided == bool(agent_contacts(history))
    scores = closed_loop_scores(history)
    assert scores["sim/offroad_rate"] == float(state.offroad)
    assert scores["sim/collision_rate"] == float(state.collided)
    if driver == "log":
        assert not state.offroad and not state.collided and scores["sim/progress_ratio"] == pytest.approx(1.0)


def test_some_driver_leaves_the_road(loaded):
    """The agreement test above covers both outcomes of the off-road flag."""
    sim = Simulator(SimConfig(occupancy_collision=False))
    assert _episode(sim, loaded, DRIVERS["left_turn"])[0].offroad


class _ThinPole:
    """A world wrapper whose static occupancy is flat road plus one pole: the voxel column nearest to
    the world point ``pole_xy_m``."""

    def __init__(self, world, pole_xy_m: np.ndarray) -> None:
        self.world, self.pole_xy_m = world, pole_xy_m

    def __getattr__(self, name):
        return getattr(self.world, name)

    static_classes_within = World.static_classes_within  # every class: the block below is always voxelised

    def static_semantics(self, pose, time_us, grid):
        labels = LabelSet.occ3d()
        block = np.full(grid.shape, labels.free_index, np.uint8)
        block[:, :, 2] = labels.index("driveable_surface")  # top at z = 0
        centres = grid.all_centers()[:, :, 0, :2] @ pose.rotation[:2, :2].T + pose.translation_m[:2]
        dist = np.linalg.norm(centres - self.pole_xy_m, axis=-1)
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        if dist[i, j] < 0.3:
            block[i, j, 3:6] = labels.index("manmade")
        return block


def test_a_thin_pole_between_decision_poses_is_hit_and_counted_once(loaded):
    """At ~10 m/s the 4.08 m ego box moves 5.2 m per decision: a pole 3.9 m ahead of the rear axle lies
    outside the boxes of two consecutive decisions and inside those of the substeps between them."""
    sim = Simulator(SimConfig(occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    for _ in range(2):
        state = sim.step_control(state, Control(3.0, 0.0))
    ego = state.trace.ego[-1]
    pole_xy = ego[:2] + 3.9 * np.array([np.cos(ego[2]), np.sin(ego[2])])
    sim = Simulator(SimConfig())
    state = replace(state, context=replace(state.context, world=_ThinPole(loaded.world, pole_xy)))
    state = sim.step_control(state, Control(0.0, 0.0))
    assert state.collided
    history = sim.episode_history(state)
    rows = np.unique(history.static_contact_index)
    assert len(rows) >= 1 and np.all(rows % sim.config.substeps != 0)  # between decisions only
    assert len(static_objects(history, 0.6)) == 1
    assert closed_loop_scores(history)["sim/no_at_fault_collision_multiplier"] == 0.5


def test_history_file_rescores_the_same(loaded, tmp_path):
    sim = Simulator(SimConfig(agents="idm"))
    _, history = _episode(sim, loaded, DRIVERS["full_throttle"])
    back = EpisodeHistory.load(history.save(tmp_path / "episodes" / "scene-0001.npz"))
    assert closed_loop_scores(back) == closed_loop_scores(history)
