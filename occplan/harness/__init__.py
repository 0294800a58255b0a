"""The evaluation harness behind ``run_closed_loop.py``: configuration, per-scenario runs through the
simulator core, mergeable metric state, results store, report, plots, W&B and Ray scale-out.

``run(config, plugins)`` takes the model and planner as factories (``occplan.harness.plugins``);
``run_closed_loop.evaluate(config)`` builds them from the registries."""

from occplan.harness.config import RunConfig, from_mapping, load_yaml
from occplan.harness.episode import run_scenario
from occplan.harness.plugins import PluginFactory, Plugins
from occplan.harness.runner import run

__all__ = ["PluginFactory", "Plugins", "RunConfig", "from_mapping", "load_yaml", "run", "run_scenario"]
