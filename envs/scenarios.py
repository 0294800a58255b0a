"""Where the env's scenarios come from: a nuScenes-format dataroot (real or generated), or any object
with the same two methods (``names()``, ``load(name)``) for tests and custom suites."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from occplan.data.dataroot import resolve_dataroot
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

    ``dataroot`` and ``version`` follow ``occplan.data.dataroot.resolve_dataroot`` (``version`` None:
    the dataroot's only ``v1.0-*`` table folder), checked at construction: a folder that is not a
    nuScenes dataroot, or a version it lacks, raises a ``ValidationError`` here. ``split`` selects
    scenes from ``splits.json`` / the devkit splits; ``scenes`` restricts them further. Sources and
    worlds are opened lazily and cached per scene.
    """

    dataroot: str | Path | None = None
    version: str | None = None
    split: str | None = "val"
    scenes: tuple[str, ...] | None = None
    _source: Any = field(default=None, init=False, repr=False)
    _cache: dict[str, LoadedScenario] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.dataroot is not None:
            self.dataroot, self.version = resolve_dataroot(self.dataroot, self.version)

    def _open(self):
        if self._source is None:
            from occplan.data import NuScenesSource

            if self.dataroot is None:
                from scenarios.datasets import ensure

                self.dataroot, self.version = resolve_dataroot(ensure("mini"), self.version)
            self._source = NuScenesSource(self.dataroot, self.version)
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
