"""The metric registry: every metric of a run with the passes it runs in, the record it consumes and
the schema version of its accumulator state.

A metric module declares one ``MetricSpec`` (``<NAME>_SPEC``), and ``occplan/metrics/__init__.py``
registers it with one line (``METRICS.register(<NAME>_SPEC)``):

* ``name``: the key of its state in a scenario's ``results.jsonl`` record;
* ``version``: the schema version of that state. Raise it whenever the state's layout or meaning
  changes: a resumed run refuses to merge states of another version (``occplan.harness.resume``);
* ``passes``: pass -> prefix of its keys in that pass. Passes: ``open`` (ego on the log), ``closed``
  (ego on the plan), ``human`` (the logged ego replayed through the simulator); e.g. the occupancy
  metrics report ``occ/*`` in the open pass and ``closed/occ/*`` in the closed pass;
* ``record``: the type of record its accumulator takes (``occplan.metrics.records``, a
  ``PlanningSample`` or the recorded ``EpisodeHistory``);
* ``create(MetricContext)``: a new accumulator, which has ``state()`` (JSON-able) and
  ``merge_state(state)`` (adds another accumulator's state);
* ``update(accumulator, record)``: adds one record; returns per-step scalars for the step log or None;
* ``compute(accumulator)``: its METRICS.md keys (without the pass prefix), {} when it saw nothing.

``MetricSet`` (``occplan.harness.accumulate``) holds one accumulator per metric of a pass and hands
each record to the metrics that consume its type. ``METRICS`` is filled by importing
``occplan.metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from occplan.errors import RegistryError, ValidationError
from occplan.types import GridSpec, LabelSet

PASSES = ("open", "closed", "human")
"""The passes of a scenario, in the order their keys are assembled (``RunMetrics.compute``)."""


@dataclass(frozen=True)
class MetricContext:
    """What an accumulator is built for: the occupancy grid and label set of the run."""

    grid: GridSpec
    labels: LabelSet


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric (see the module docstring)."""

    name: str
    version: int
    passes: Mapping[str, str]
    record: type
    create: Callable[[MetricContext], Any]
    update: Callable[[Any, Any], Mapping[str, float] | None]
    compute: Callable[[Any], dict[str, float]]

    def __post_init__(self) -> None:
        where = f"MetricSpec {self.name!r}"
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValidationError(f"{where}.name: letters, digits and '_' only")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValidationError(f"{where}.version: an int >= 1, got {self.version!r}")
        unknown = [p for p in self.passes if p not in PASSES]
        if unknown or not self.passes:
            raise ValidationError(f"{where}.passes: {list(self.passes)}; valid passes: {', '.join(PASSES)}")
        if not isinstance(self.record, type):
            raise ValidationError(f"{where}.record: a type, got {self.record!r}")


class MetricRegistry:
    """Registered ``MetricSpec`` by name, in registration order."""

    def __init__(self, specs: tuple[MetricSpec, ...] = ()) -> None:
        self._specs: dict[str, MetricSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: MetricSpec) -> MetricSpec:
        """Add ``spec``; a second metric of the same name is an error."""
        if spec.name in self._specs:
            raise RegistryError(f"metric registry: duplicate name {spec.name!r}")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> MetricSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise RegistryError(f"unknown metric {name!r}; known: {', '.join(self._specs) or '(none)'}") from None

    def for_pass(self, pass_name: str) -> tuple[MetricSpec, ...]:
        """The metrics that run in ``pass_name``, in registration order."""
        if pass_name not in PASSES:
            raise ValidationError(f"pass {pass_name!r}: expected one of {', '.join(PASSES)}")
        return tuple(s for s in self._specs.values() if pass_name in s.passes)

    def extended(self, *specs: MetricSpec) -> MetricRegistry:
        """A new registry with this one's metrics and ``specs`` (this one is left as it is)."""
        return MetricRegistry((*self._specs.values(), *specs))

    def names(self) -> list[str]:
        return list(self._specs)

    def __iter__(self) -> Iterator[MetricSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: str) -> bool:
        return name in self._specs


METRICS = MetricRegistry()
"""The metrics of every run (filled by the metric modules when ``occplan.metrics`` is imported)."""
