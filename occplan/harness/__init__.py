"""The evaluation harness behind ``run_closed_loop.py``: configuration, per-scenario runs through the
simulator core, mergeable metric state, results store, report, plots, W&B and Ray scale-out."""

from occplan.harness.config import RunConfig, from_mapping, load_yaml
from occplan.harness.episode import run_scenario
from occplan.harness.runner import run

__all__ = ["RunConfig", "from_mapping", "load_yaml", "run", "run_scenario"]
