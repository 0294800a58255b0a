"""docs/EXTENDING.md's example planner, run as written: registered, checked, driven through the harness
with a planner option."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import planners
from occplan.harness.config import RunConfig
from planners.checker import check_planner
from run_closed_loop import evaluate

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXTENDING.md"


@pytest.fixture
def cruise(monkeypatch):
    """The page's ``planners/cruise.py`` as a module, registered as ``cruise`` for the test."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    module = types.ModuleType("cruise_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses resolve annotations through it
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    monkeypatch.setattr(planners.PLANNERS, "_factories", {**planners.PLANNERS._factories})
    planners.PLANNERS.register("cruise", module.CruisePlanner)
    return module


def test_the_example_planner_passes_the_checker(cruise):
    report = check_planner(planners.create("cruise"))
    assert report.name == "cruise"


def test_the_example_planner_runs_with_its_option(cruise, tiny_dataroot, tmp_path):
    def divergence_m(speed: float) -> float:
        config = RunConfig(
            model="oracle", planner="cruise", data=str(tiny_dataroot), split=None, scenes=("scene-0001",),
            mode="closed", out=str(tmp_path / f"v{speed}"), plots=False, max_decisions=6,
            planner_options={"speed_mps": speed},
        )  # fmt: skip
        return evaluate(config)["sim/log_divergence_m"]

    plan = planners.create("cruise", config=cruise.CruiseConfig(speed_mps=4.0))
    assert plan.config.speed_mps == 4.0
    # the logged ego drives at ~7 m/s: cruising at 2 m/s falls further behind it than at 6 m/s
    slow, fast = divergence_m(2.0), divergence_m(6.0)
    assert np.isfinite(fast) and slow > fast + 1.0
