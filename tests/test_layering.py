"""The layering: the import-linter contracts of pyproject.toml hold, ``import occplan`` loads no plugin
package, torch or gymnasium, ``OccDrive-v0`` is registered by each documented route, every benchmark name
reaches its module, and the harness's plugin factories survive the trip to another process."""

from __future__ import annotations

import importlib
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from occplan.bench import BENCHMARKS
from occplan.errors import ValidationError
from occplan.harness.config import RunConfig
from occplan.harness.plugins import PluginFactory, Plugins
from run_closed_loop import plugins

REPO = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = ("envs", "models", "planners", "scenarios", "torch", "gymnasium")


def _python(code: str) -> str:
    """stdout of ``code`` in a fresh interpreter at the repository root."""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_import_contracts_hold():
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run(["lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_import_occplan_loads_no_plugin_torch_or_gymnasium():
    loaded = _python(f"import sys, occplan; print(sorted(m for m in {PLUGIN_PACKAGES} if m in sys.modules))")
    assert loaded == "[]"


@pytest.mark.parametrize(
    ("imports", "env_id"),
    [
        ("import gymnasium as gym\nimport occplan", "OccDrive-v0"),  # README's quickstart
        ("import envs\nimport gymnasium as gym", "OccDrive-v0"),
        ("import gymnasium as gym", "envs:OccDrive-v0"),
        ("import gymnasium as gym", "occplan:OccDrive-v0"),
    ],
)
def test_occdrive_is_made_after_each_documented_import(tiny_dataroot, imports, env_id):
    make = f"gym.make({env_id!r}, dataroot={str(tiny_dataroot)!r}, perception=None, observation=('ego',))"
    assert _python(f"{imports}\nprint(type({make}.unwrapped).__name__)") == "OccDriveEnv"


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_name_reaches_a_runnable_module(name):
    module = importlib.import_module(BENCHMARKS[name])
    assert callable(module.run)
    assert f"python -m occplan.bench {name}" in module.__doc__


def test_plugin_factories_pickle_by_reference_and_build_in_a_fresh_process():
    config = RunConfig(model="oracle", planner="pdm", planner_options={"speed_fractions": [0.5, 0.0]})
    bundle = plugins(config)
    blob = pickle.dumps(bundle)
    assert pickle.loads(blob) == bundle and hash(pickle.loads(blob)) == hash(bundle)
    assert bundle.planner.create.__module__ == "planners" and bundle.model.create.__module__ == "models"
    built = _python(
        f"import pickle, sys\nb = pickle.loads({blob!r})\nm, p = b.model(), b.planner()\n"
        "print(type(m).__name__, type(p).__name__, p.config.speed_fractions, 'occplan' in sys.modules)"
    )
    assert built == "OracleModel PDMPlanner (0.5, 0.0) True"


def test_plugins_that_do_not_build_what_the_config_names_are_refused():
    config = RunConfig(model="oracle", planner="pdm")
    bundle = plugins(config)
    bundle.check(config)
    other = Plugins(bundle.model, PluginFactory.of(bundle.planner.create, "constant_velocity", {}))
    with pytest.raises(ValidationError, match="Plugins.planner: builds 'constant_velocity'"):
        other.check(config)
    with pytest.raises(ValidationError, match="Plugins.model: builds 'oracle' with options"):
        bundle.check(RunConfig(model="oracle", planner="pdm", model_options={"x": 1}))
