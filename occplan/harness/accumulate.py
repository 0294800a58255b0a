"""The streaming metrics of a run, taken from the metric registry (``occplan.metrics.registry``).

Each pass of a scenario fills its own ``MetricSet``: one accumulator per metric registered for that
pass; ``update(record)`` hands a record to the metrics that consume its type. The pass ships
``state()`` in the scenario's results line: per metric, its JSON-able state and the schema version it
was written with. ``RunMetrics.merged`` adds the pass states of several scenarios in scenario order
and ``compute()`` gives the flat METRICS.md keys, so the summary is the same whether the scenarios
ran in one process, in N Ray workers or across a resume.

``per_type_metrics`` gives the same keys per scenario type (``type/<type>/<key>``, nuPlan's per
scenario-type reporting) from the states of that type's scenarios, with their bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from occplan.errors import ValidationError
from occplan.metrics import registry as metric_registry
from occplan.metrics.bootstrap import bootstrap_ci
from occplan.metrics.registry import PASSES, MetricContext, MetricRegistry
from occplan.types import GridSpec, LabelSet


def versioned(spec_version: int, state: Any) -> dict[str, Any]:
    """One metric's entry in a pass state: ``{"version": v, "state": s}``."""
    return {"version": spec_version, "state": state}


class MetricSet:
    """The accumulators of the metrics registered for ``pass_name`` (``open``, ``closed`` or ``human``).

    ``registry`` defaults to ``occplan.metrics.registry.METRICS`` (read when the set is made).
    """

    def __init__(
        self, grid: GridSpec, labels: LabelSet, pass_name: str, registry: MetricRegistry | None = None
    ) -> None:
        self.pass_name = pass_name
        self.context = MetricContext(grid, labels)
        self.specs = (registry or metric_registry.METRICS).for_pass(pass_name)
        self.accumulators = {s.name: s.create(self.context) for s in self.specs}

    def __getitem__(self, name: str) -> Any:
        """The accumulator of metric ``name``."""
        if name not in self.accumulators:
            known = ", ".join(self.accumulators)
            raise KeyError(f"metric {name!r} is not in the {self.pass_name} pass; it has {known}")
        return self.accumulators[name]

    def update(self, record: Any) -> dict[str, float]:
        """Hand ``record`` to every metric of the pass that consumes its type. Returns the per-step
        scalars they give for the step log ({} when none gives any, or none consumes the record)."""
        out: dict[str, float] = {}
        for spec in self.specs:
            if isinstance(record, spec.record):
                out |= spec.update(self.accumulators[spec.name], record) or {}
        return out

    def state(self) -> dict[str, dict[str, Any]]:
        """JSON-able state: ``{metric: {"version": schema version, "state": accumulator state}}``."""
        return {s.name: versioned(s.version, self.accumulators[s.name].state()) for s in self.specs}

    def merge_state(self, state: Mapping[str, Any]) -> None:
        """Add a ``state()`` of a MetricSet of the same pass, grid and label set. Every metric of the
        pass must be there at this code's schema version (``occplan.harness.resume`` completes or
        refuses the records of a resumed run first); states of metrics the registry no longer has are
        ignored."""
        for spec in self.specs:
            entry = state.get(spec.name)
            if entry is None:
                raise ValidationError(
                    f"{self.pass_name} pass state: no state of metric {spec.name!r} (version {spec.version})"
                )
            if entry.get("version") != spec.version:
                raise ValidationError(
                    f"{self.pass_name} pass state: metric {spec.name!r} has state version {entry.get('version')}, "
                    f"this code reads version {spec.version}"
                )
        for spec in self.specs:
            self.accumulators[spec.name].merge_state(state[spec.name]["state"])

    @classmethod
    def merged(
        cls,
        grid: GridSpec,
        labels: LabelSet,
        pass_name: str,
        states: Sequence[Mapping[str, Any]],
        registry: MetricRegistry | None = None,
    ) -> MetricSet:
        """One MetricSet holding ``states`` added in the given order."""
        out = cls(grid, labels, pass_name, registry)
        for s in states:
            out.merge_state(s)
        return out

    def compute(self) -> dict[str, float]:
        """The pass's METRICS.md keys: each metric's keys behind the prefix it registered for the pass
        (a metric that saw nothing gives none; runtimes are NaN without a call)."""
        out: dict[str, float] = {}
        for spec in self.specs:
            prefix = spec.passes[self.pass_name]
            out |= {prefix + k: v for k, v in spec.compute(self.accumulators[spec.name]).items()}
        return out


@dataclass
class RunMetrics:
    """The MetricSets of the passes that ran (``PASSES`` order), over one or more scenarios."""

    sets: dict[str, MetricSet]

    @classmethod
    def merged(
        cls,
        grid: GridSpec,
        labels: LabelSet,
        states: Sequence[Mapping[str, Any]],
        registry: MetricRegistry | None = None,
    ) -> RunMetrics:
        """Scenario records' ``state`` (pass -> MetricSet state, None for a pass that did not run)
        added in the given order. The passes are those the first record ran (a run's records share
        its mode)."""
        passes = [p for p in PASSES if states and states[0].get(p) is not None]
        return cls({p: MetricSet.merged(grid, labels, p, [s[p] for s in states], registry) for p in passes})

    def accumulator(self, pass_name: str, name: str) -> Any | None:
        """The accumulator of metric ``name`` in ``pass_name``; None when that pass did not run."""
        return self.sets[pass_name][name] if pass_name in self.sets else None

    def compute(self) -> dict[str, float]:
        """Flat METRICS.md keys of every pass, the passes in ``PASSES`` order: a key two passes report
        alike (``runtime/*``) is the later pass's, so a run's runtimes are the closed-loop pass's
        when it ran (its sensors are re-simulated)."""
        out: dict[str, float] = {}
        for p in PASSES:
            if p in self.sets:
                out |= self.sets[p].compute()
        return out


def type_key(scenario_type: str, key: str) -> str:
    """Summary key of ``key`` over the scenarios of one type: ``type/<type>/<key>``."""
    return f"type/{scenario_type}/{key}"


def per_type_metrics(
    grid: GridSpec,
    labels: LabelSet,
    states: Sequence[Mapping[str, Any]],
    types: Sequence[str | None],
    keys: Sequence[str],
    n_resamples: int,
    seed: int,
    registry: MetricRegistry | None = None,
) -> dict[str, float]:
    """Per scenario type: the ``keys`` computed from the merged states of that type's scenarios, their
    95 % percentile bootstrap intervals over those scenarios (``bootstrap_ci``, same seed and resample
    count as the whole run's) and ``type/<type>/n_scenarios``.

    ``states`` and ``types`` are aligned, one per scenario in run order; an untagged scenario (None)
    belongs to no type. A key the type's scenarios do not give (or give as NaN) is left out, with its
    interval. Returns {} when no scenario is tagged.
    """
    if len(states) != len(types):
        raise ValidationError(f"per_type_metrics: {len(states)} scenario states but {len(types)} types")
    out: dict[str, float] = {}
    for kind in sorted({t for t in types if t is not None}):
        group = [s for s, t in zip(states, types, strict=True) if t == kind]
        values = RunMetrics.merged(grid, labels, group, registry).compute()
        present = [k for k in keys if isinstance(values.get(k), float) and np.isfinite(values[k])]

        def compute(indices: np.ndarray, group: list = group) -> dict[str, float]:
            return RunMetrics.merged(grid, labels, [group[i] for i in indices], registry).compute()

        intervals = bootstrap_ci(len(group), compute, present, n_resamples=n_resamples, seed=seed)
        out[type_key(kind, "n_scenarios")] = float(len(group))
        out |= {type_key(kind, k): values[k] for k in present}
        out |= {type_key(kind, k): v for k, v in intervals.items()}
    return out
