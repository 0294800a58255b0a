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
    """A world wrapper whose static occupancy holds a 0.4 m wide wall in the ego box's columns only
    while the rear axle's distance from the start lies in [``at_m``, ``at_m`` + 0.3)."""

    def __init__(self, world, start_xy: np.ndarray, at_m: float) -> None:
        self.world, self.start_xy, self.at_m, self.hits = world, start_xy, at_m, 0

    def __getattr__(self, name):
        return getattr(self.world, name)

    def static_semantics(self, pose, time_us, grid):
        labels = LabelSet.occ3d()
        block = np.full(grid.shape, labels.free_index, np.uint8)
        block[:, :, 2] = labels.index("driveable_surface")
        if self.at_m <= np.linalg.norm(pose.translation_m[:2] - self.start_xy) < self.at_m + 0.3:
            self.hits += 1
            block[grid.shape[0] // 2, grid.shape[1] // 2, 3:6] = labels.index("manmade")
        return block


def test_a_thin_pole_between_decisions_is_hit_and_counted_once(loaded):
    sim = Simulator(SimConfig())
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    start = np.array([state.ego.x_m, state.ego.y_m])
    state = sim.step_control(state, Control(3.0, 0.0))  # ~8.9 m/s: 0.89 m per 0.1 s substep
    travelled = np.linalg.norm(np.array([state.ego.x_m, state.ego.y_m]) - start)
    # 0.3 m of road reached at the first substep of the next decision only
    pole = _ThinPole(loaded.world, start, travelled + state.ego.speed_mps * sim.config.dt_s - 0.1)
    state = replace(state, context=replace(state.context, world=pole))
    for _ in range(3):
        state = sim.step_control(state, Control(0.0, 0.0))
    assert pole.hits == 1 and state.collided
    history = sim.episode_history(state)
    rows = np.unique(history.static_contact_index)
    assert len(rows) == pole.hits and np.all(rows % sim.config.substeps != 0)  # substeps, not decisions
    assert len(static_objects(history, 0.6)) == 1


def test_history_file_rescores_the_same(loaded, tmp_path):
    sim = Simulator(SimConfig(agents="idm"))
    _, history = _episode(sim, loaded, DRIVERS["full_throttle"])
    back = EpisodeHistory.load(history.save(tmp_path / "episodes" / "scene-0001.npz"))
    assert closed_loop_scores(back) == closed_loop_scores(history)
