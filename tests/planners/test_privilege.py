"""What a planner may see: the init record and the inputs of a non-privileged planner carry neither the
log nor the Scenario; a privileged one gets both; the framework refuses anything else."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.interfaces import Planner, PlannerInit, PlannerInput, PrivilegedPlannerInit
from occplan.sim import SimConfig, Simulator
from occplan.sim.route import RoutePolyline
from occplan.types import MapInfo, OccupancyPrediction, Scenario, Trajectory, se2_transform
from planners.synthetic import make_init, make_input, road_scene, straight_route


class Spy(Planner):
    """Drives straight at 5 m/s and keeps what it was given."""

    name = "spy"

    def __init__(self, privileged: bool) -> None:
        super().__init__()
        self.requires_privileged = privileged
        self.inits: list[PlannerInit] = []
        self.inputs: list[PlannerInput] = []

    def _reset(self, init: PlannerInit) -> None:
        self.inits.append(init)

    def _plan(self, inp: PlannerInput) -> Trajectory:
        self.inputs.append(inp)
        x = 5.0 * inp.sampling.times_s
        return Trajectory(np.column_stack([x, np.zeros_like(x), np.zeros_like(x)]), inp.sampling)


@pytest.fixture(scope="module")
def loaded(tiny_dataroot):
    from envs.scenarios import DatasetScenarios

    return DatasetScenarios(tiny_dataroot, "v1.0-occplan", split=None).load("scene-0001")


def _drive(sim: Simulator, loaded, spy: Spy, n_decisions: int = 3, scenario: Scenario | None = None):
    scenario = scenario or loaded.scenario
    state = sim.reset(scenario, 0, world=loaded.world, source=loaded.source)
    spy.reset(sim.planner_init(state, privileged=spy.requires_privileged))
    states = []
    for _ in range(n_decisions):
        gt = sim.ground_truth(state, with_masks=False)
        occ = OccupancyPrediction(gt.semantics, gt.grid, gt.labels, gt.flow)
        states.append(state)
        state = sim.step(state, spy.plan(sim.planner_input(state, occ, privileged=spy.requires_privileged)))
    return states


def test_a_non_privileged_planner_sees_neither_the_log_nor_the_scenario(loaded):
    sim, spy = Simulator(SimConfig(mode="closed")), Spy(privileged=False)
    states = _drive(sim, loaded, spy)
    (init,) = spy.inits
    assert type(init) is PlannerInit and not isinstance(init, PrivilegedPlannerInit)
    assert not any(isinstance(v, Scenario) for v in vars(init).values())
    assert init.route_source == "map_lanes" and init.scenario_name == "scene-0001"
    last = loaded.scenario.frames[-1].world_from_ego
    assert np.allclose(init.mission_goal, [*last.translation_m[:2], last.yaw_rad])
    for state, inp in zip(states, spy.inputs, strict=True):
        assert inp.log_future is None and inp.route_source == "map_lanes"
        assert inp.route_xy_m.shape == (sim.config.route_points, 2)
        # the route ahead lies on the map route's centreline, starting at the ego's projection on it
        world = se2_transform(np.column_stack([inp.route_xy_m, np.zeros(len(inp.route_xy_m))]), state.world_from_ego)
        _, off = RoutePolyline.from_points(init.route.centreline_xy_m).project(world[:, :2])
        assert off.max() < 1e-6 and np.hypot(*inp.route_xy_m[0]) < 1.0
        goal = se2_transform(init.mission_goal[None], state.world_from_ego.inverse())[0, :2]
        assert np.allclose(inp.goal_xy_m, goal)


def test_a_privileged_planner_gets_the_scenario_the_logged_path_and_future(loaded):
    sim, spy = Simulator(SimConfig(mode="closed")), Spy(privileged=True)
    states = _drive(sim, loaded, spy)
    (init,) = spy.inits
    assert isinstance(init, PrivilegedPlannerInit) and init.scenario is loaded.scenario
    logged = np.array([f.world_from_ego.translation_m[:2] for f in loaded.scenario.frames])
    assert np.allclose(init.expert_path_xy_m, logged)
    for state, inp in zip(states, spy.inputs, strict=True):
        assert np.array_equal(inp.log_future.poses, sim.log_future(state).poses)


def test_the_init_record_is_the_same_from_the_scenario_or_a_state(loaded):
    sim = Simulator()
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    a, b = sim.planner_init(loaded.scenario, privileged=False), sim.planner_init(state, privileged=False)
    assert a.route is b.route and np.array_equal(a.mission_goal, b.mission_goal)


def test_without_lanes_the_planner_gets_no_route_but_the_goal(loaded):
    no_map = replace(loaded.scenario, token="no-map", map=MapInfo(loaded.scenario.location, "none", None, "removed"))
    sim, spy = Simulator(SimConfig(mode="closed")), Spy(privileged=False)
    _drive(sim, loaded, spy, 2, scenario=no_map)
    assert spy.inits[0].route_source == "none" and "kind 'none'" in spy.inits[0].route.reason
    for inp in spy.inputs:
        assert inp.route_source == "none" and inp.route_xy_m.shape == (0, 2) and inp.goal_xy_m.shape == (2,)
        assert inp.drivable_bev is None


def test_the_framework_refuses_privileged_data_to_others_and_missing_data_to_the_privileged():
    route = straight_route()
    occ, drivable = road_scene(route)
    inp = make_input(occ, 5.0, route, drivable)
    plain, privileged = Spy(privileged=False), Spy(privileged=True)
    with pytest.raises(ValidationError, match="PlannerInit without privileged data"):
        plain.reset(make_init(privileged=True))
    with pytest.raises(ValidationError, match="needs a PrivilegedPlannerInit"):
        privileged.reset(make_init(privileged=False))
    with pytest.raises(ValidationError, match="expected a PlannerInit"):
        plain.reset(None)
    with pytest.raises(ValidationError, match="log_future is for privileged planners only"):
        plain.plan(replace(inp, log_future=plain.plan(inp)))
    with pytest.raises(ValidationError, match="route_xy_m: must be empty"):
        plain.plan(replace(inp, route_source="none"))
    assert plain.inits == [] and privileged.inits == []
