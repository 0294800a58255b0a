"""Closed-loop (or open-loop) evaluation of a perception model + planner; see ``occplan.harness``.

python run_closed_loop.py --model occnet            # the embedded mini set, val split, closed loop
python run_closed_loop.py --help

The edge of the harness: the core (``occplan``) never imports a plugin package, so this script resolves
what a RunConfig names. ``plugins`` checks the model and planner names and options against the
registries (``models.MODELS``, ``planners.PLANNERS``) and returns the factories the harness builds them
from (``occplan.harness.plugins``); ``evaluate`` fills in the embedded generated dataset
(``scenarios.datasets.ensure_split``: a split's scenes alone unless the full set is cached) when no
dataroot is given and runs ``occplan.harness.run``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import models
import planners
from occplan.errors import ValidationError
from occplan.harness import cli, runner
from occplan.harness.config import RunConfig
from occplan.harness.plugins import PluginFactory, Plugins

DEFAULT_DATASET = "mini"
"""The generated dataset a run uses when ``RunConfig.data`` is None."""


def plugins(config: RunConfig) -> Plugins:
    """The factories of the model and planner ``config`` names; ValidationError, before anything is
    built or created, for a name that is not registered or an option the plugin does not take."""
    for key, registry in (("model", models.MODELS), ("planner", planners.PLANNERS)):
        name = getattr(config, key)
        if name not in registry:
            raise ValidationError(
                f"RunConfig.{key}: unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}"
            )
    models.check_options(config.model, config.model_options, "RunConfig.model_options")
    planners.check_options(config.planner, config.planner_options, "RunConfig.planner_options")
    return Plugins(
        PluginFactory.of(models.create_with_options, config.model, config.model_options),
        PluginFactory.of(planners.create_with_options, config.planner, config.planner_options),
    )


def evaluate(config: RunConfig) -> dict[str, Any]:
    """``occplan.harness.run`` with the registries' plugins, on the embedded generated set when
    ``config.data`` is None; returns the summary."""
    bundle = plugins(config)
    if config.data is None:
        from scenarios.datasets import ensure, ensure_split

        if config.scenes is None and config.split is not None:  # only the split's scenes need to exist
            root = ensure_split(DEFAULT_DATASET, config.split)
        else:
            root = ensure(DEFAULT_DATASET)
        config = replace(config, data=str(root))
    return runner.run(config, bundle)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, evaluate)


if __name__ == "__main__":
    sys.exit(main())
