"""Planner plugins: ``PLANNERS`` maps a name to a factory ``(**kwargs) -> Planner``.

A planner whose ``__init__`` takes ``config: SomeConfig | None`` is configurable by options
(``planners.options``): ``create_with_options(name, options)``; ``check_options`` refuses bad ones
before a planner is built.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, get_args, get_type_hints

from occplan.errors import ValidationError
from occplan.interfaces import Planner
from occplan.registry import Registry
from planners.constant_velocity import ConstantVelocityPlanner
from planners.log_replay import LogReplayPlanner
from planners.occ_sampler import OccSamplerPlanner
from planners.options import with_options
from planners.pdm import PDMPlanner

PLANNERS: Registry[Planner] = Registry("planner")
PLANNERS.register("constant_velocity", ConstantVelocityPlanner)
PLANNERS.register("log_replay", LogReplayPlanner)
PLANNERS.register("occ_sampler", OccSamplerPlanner)
PLANNERS.register("pdm", PDMPlanner)


def create(name: str, **kwargs) -> Planner:
    """Instantiate the planner registered as ``name`` (unknown names list the known ones)."""
    return PLANNERS.create(name, **kwargs)


def config_class(name: str) -> type | None:
    """The config dataclass of planner ``name`` (its ``__init__``'s ``config`` parameter), or None."""
    factory = PLANNERS.factory(name)
    hint = get_type_hints(factory.__init__).get("config") if isinstance(factory, type) else None
    allowed = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next((a for a in allowed if isinstance(a, type) and a is not type(None)), None)


def configured(name: str, options: Mapping[str, Any], where: str) -> Any | None:
    """The default config of planner ``name`` with ``options`` applied (None when it has no config);
    ValidationError naming ``where`` and the valid keys for an option it does not take."""
    cls = config_class(name)
    if cls is None:
        if options:
            raise ValidationError(f"{where}: planner {name!r} takes no options, got {sorted(options)}")
        return None
    return with_options(cls(), options, where)


def check_options(name: str, options: Mapping[str, Any], where: str) -> None:
    configured(name, options, where)


def create_with_options(name: str, options: Mapping[str, Any]) -> Planner:
    """The planner ``name`` built with its config's ``options`` applied (``create(name)`` when none)."""
    config = configured(name, options, f"planner {name!r} options")
    return create(name) if config is None else create(name, config=config)


__all__ = ["PLANNERS", "check_options", "config_class", "configured", "create", "create_with_options"]
