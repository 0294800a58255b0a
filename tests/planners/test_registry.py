"""Every registered planner passes the planner checker; the registry behaves."""

from __future__ import annotations

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
    report = check_planner(planners.create(name), n_random=4, seed=1)
    assert report.n_calls == 4 + 6
    assert report.median_ms >= 0.0


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
