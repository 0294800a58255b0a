"""The plugins a run uses, handed to the harness by its caller: the core never imports a plugin package.

``RunConfig`` names the perception model and the planner with their options (what config.json and
summary.json record). The caller at the edge (``run_closed_loop.py``) checks those names and options
against the registries (``models.MODELS``, ``planners.PLANNERS``) and hands the harness a ``Plugins``
bundle of two ``PluginFactory`` values. A factory is plain data: the plugin package's module-level
``create_with_options(name, options)`` function, the name and the options as canonical JSON. It pickles
as the function's import path plus those strings, so a Ray worker that receives it imports the plugin
package itself and builds the same plugin; it is hashable, and each process builds one instance per
factory (``instance``: weights load once per process, ``reset`` separates scenarios).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from occplan.errors import ValidationError
from occplan.harness.config import RunConfig, options_key
from occplan.interfaces import PerceptionModel, Planner

T = TypeVar("T")


@dataclass(frozen=True)
class PluginFactory(Generic[T]):
    """``create(name, options)`` on call; ``create`` must be a module-level function (picklable by
    reference) and ``options_json`` JSON of a mapping (``options_key``)."""

    create: Callable[[str, Mapping[str, Any]], T]
    name: str
    options_json: str = "{}"

    @classmethod
    def of(cls, create: Callable[[str, Mapping[str, Any]], T], name: str, options: Mapping[str, Any]) -> PluginFactory:
        return cls(create, name, options_key(options))

    def __call__(self) -> T:
        return self.create(self.name, json.loads(self.options_json))


@dataclass(frozen=True)
class Plugins:
    """The perception model and the planner of a run, as factories (see the module docstring)."""

    model: PluginFactory[PerceptionModel]
    planner: PluginFactory[Planner]

    def check(self, config: RunConfig) -> None:
        """ValidationError when the factories do not build the plugins ``config`` names with its options
        (the run's record would then describe other plugins than the ones that ran)."""
        for key, factory in (("model", self.model), ("planner", self.planner)):
            name, options = getattr(config, key), options_key(getattr(config, f"{key}_options"))
            if (factory.name, factory.options_json) != (name, options):
                raise ValidationError(
                    f"Plugins.{key}: builds {factory.name!r} with options {factory.options_json}, "
                    f"but RunConfig names {name!r} with {options}"
                )


@cache
def instance(factory: PluginFactory[T]) -> T:
    """The one plugin of ``factory`` in this process."""
    return factory()
