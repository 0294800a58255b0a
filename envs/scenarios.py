"""Where the env's scenarios come from: a nuScenes-format dataroot (real or generated), or any object
with the same two methods (``names()``, ``load(name)``) for tests and custom suites."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from occplan.types import Scenario
from occplan.world import World


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario with its world and (optional) data source for logged sensors."""

    scenario: Scenario
    world: World
    source: Any = None


class ScenarioSource(Protocol):
    def names(self) -> list[str]: ...

    def load(self, name: str) -> LoadedScenario: ...


@dataclass
class DatasetScenarios:
    """Scenes of a dataroot (default: the generated embedded "mini" set, built on first use).

    ``split`` selects scenes from ``splits.json`` / the devkit splits; ``scenes`` restricts them
    further. Sources and worlds are opened lazily and cached per scene.
    """

    dataroot: str | Path | None = None
    version: str | None = None
    split: str | None = "val"
    scenes: tuple[str, ...] | None = None
    _source: Any = field(default=None, init=False, repr=False)
    _cache: dict[str, LoadedScenario] = field(default_factory=dict, init=False, repr=False)

    def _open(self):
        if self._source is None:
            from occplan.data import NuScenesSource

            root, version = self.dataroot, self.version
            if root is None:
                from scenarios.datasets import ensure

                root, version = ensure("mini"), version or "v1.0-occplan"
            self._source = NuScenesSource(root, version or "v1.0-mini")
        return self._source

    def names(self) -> list[str]:
        available = self._open().scene_names(self.split)
        if self.scenes is None:
            return available
        missing = [s for s in self.scenes if s not in available]
        if missing:
            raise ValueError(f"{self._open().dataroot}: scenes {missing} not in split {self.split!r}: {available}")
        return list(self.scenes)

    def load(self, name: str) -> LoadedScenario:
        if name not in self._cache:
            from occplan.world import open_world

            source = self._open()
            scenario = source.scenario(name)
            self._cache[name] = LoadedScenario(scenario, open_world(source, scenario), source)
        return self._cache[name]
