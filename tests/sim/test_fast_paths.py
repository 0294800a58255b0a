"""The simulator's fast paths give the states of the plain paths they replace."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.sim import Control, SimConfig, Simulator
from occplan.world import World


class _EveryClass:
    """A world wrapper without the static-class pre-test: every collision query is voxelised."""

    def __init__(self, world) -> None:
        self.world = world

    def __getattr__(self, name):
        return getattr(self.world, name)

    static_classes_within = World.static_classes_within


def _episode(sim, scenario, world, control):
    state = sim.reset(scenario, 0, world=world)
    states = [state]
    while not sim.done(state) and not state.collided:
        state = sim.step_control(state, control) if control else sim.step(state, sim.log_future(state))
        states.append(state)
    return states


@pytest.mark.parametrize(
    ("scene", "control"),
    [("scene-0000", None), ("scene-0000", Control(1.0, -0.4)), ("scene-0000", Control(2.0, -0.1)),
     ("scene-0001", Control(1.0, 0.4)), ("scene-0001", Control(3.0, 0.2))],
)  # fmt: skip
def test_static_class_pretest_keeps_every_contact(tiny_scenes, scene, control):
    """Skipping the voxelisation where only ground-class faces lie near the swept boxes changes no
    contact: the same states, collisions and contact columns as voxelising every query."""
    loaded = tiny_scenes.load(scene)
    sim = Simulator(SimConfig())
    fast = _episode(sim, loaded.scenario, loaded.world, control)
    plain = _episode(sim, loaded.scenario, _EveryClass(loaded.world), control)
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain, strict=True):
        assert a.collided == b.collided and np.array_equal(a.trace.ego, b.trace.ego)
        assert len(a.trace.occ_contacts) == len(b.trace.occ_contacts)
        for (i, xy), (j, xy_b) in zip(a.trace.occ_contacts, b.trace.occ_contacts, strict=True):
            assert i == j and np.array_equal(xy, xy_b)
    if control is not None:
        assert fast[-1].trace.occ_contacts  # the episode ends on a static contact
