"""Every registered planner passes the planner checker; the registry behaves."""

from __future__ import annotations

import statistics

import pytest

import planners
from occplan.errors import RegistryError, ValidationError
from planners.checker import check_planner
from planners.synthetic import make_input, road_scene, straight_route


def test_registry_lists_the_contract_names():
    assert set(planners.PLANNERS.names()) >= {"constant_velocity", "log_replay", "occ_sampler", "pdm"}
    with pytest.raises(RegistryError, match="known: constant_velocity"):
        planners.create("nope")


@pytest.mark.parametrize("name", planners.PLANNERS.names())
def test_every_planner_passes_the_checker(name):
    planner = planners.create(name)
    report = check_planner(planner, n_random=4, seed=1)
    # 4 random inputs + 6 edge cases (empty, full of car, full of road; each at 0 and 12 m/s)
    assert report.name == name
    assert report.n_calls == 4 + 6
    # the report summarises exactly the planner's own timed calls (a fresh planner: these 10 only)
    calls = planner.timer.calls_ms
    assert len(calls) == 10
    assert report.median_ms == pytest.approx(statistics.median(calls))
    assert report.max_ms == max(calls)
    assert 0.0 < report.median_ms <= report.max_ms


@pytest.mark.parametrize("name", planners.PLANNERS.names())
def test_the_checker_rejects_a_planner_with_an_invalid_yaw(name):
    """The same planner with its last yaw pushed to 4 rad (> pi, finite, so Trajectory.validate lets
    it through) fails the checker on the first case, naming the planner and the case."""
    planner = planners.create(name)
    plan = planner._plan

    def bad_plan(inp):
        out = plan(inp)
        poses = out.poses.copy()
        poses[-1, 2] = 4.0
        return type(out)(poses, out.sampling)

    planner._plan = bad_plan
    with pytest.raises(ValidationError, match=rf"planner '{name}' on random#0: yaw outside"):
        check_planner(planner, n_random=1, seed=1)


def test_log_replay_needs_and_returns_the_logged_future():
    route = straight_route()
    occ, drivable = road_scene(route)
    inp = make_input(occ, 5.0, route, drivable)
    with pytest.raises(ValidationError, match="privileged"):
        planners.create("log_replay").plan(inp)
    assert planners.create("log_replay").requires_privileged
    future = planners.create("constant_velocity").plan(inp)
    out = planners.create("log_replay").plan(make_input(occ, 5.0, route, drivable, log_future=future))
    assert (out.poses == future.poses).all()
