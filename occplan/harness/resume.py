"""Which finished scenario records a resumed run keeps (``--resume``), checked against the metric
registry before any scenario runs.

For every pass a record ran, each metric the registry has for that pass must be in the record's
state at this code's schema version (``MetricSpec.version``):

* a record without the per-pass states (``open``, ``closed``, ``human``) was written by an earlier
  protocol (``occplan.PROTOCOL_VERSION``): refused, naming the file;
* a metric state written at another schema version: refused, naming the metric, both versions and
  the scenarios (states of two schemas cannot be merged);
* a metric the record lacks (registered after the record was written): recomputed from the recorded
  episode (``episodes/<scenario>.npz``) when it consumes the closed-loop pass's ``EpisodeHistory``,
  and the completed record is appended to results.jsonl (the later line of a scenario wins);
  otherwise that scenario runs again, and a line on stderr names the metric, its version and the
  scenarios;
* pass states that store each metric's state bare (written before per-metric versions) are read as
  version 1 of every metric.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from occplan.errors import ValidationError
from occplan.harness.accumulate import RunMetrics, versioned
from occplan.harness.store import RunStore
from occplan.io import json_safe
from occplan.metrics import registry as metric_registry
from occplan.metrics.registry import PASSES, MetricContext, MetricRegistry, MetricSpec
from occplan.types import GridSpec, LabelSet
from occplan.types.history import EpisodeHistory

RECOMPUTABLE_PASS = "closed"
"""The pass whose recorded episode is kept (``episodes/<scenario>.npz``)."""


def _is_versioned(entry: Any) -> bool:
    return isinstance(entry, dict) and set(entry) == {"version", "state"}


def with_versions(pass_name: str, state: dict[str, Any] | None) -> dict[str, Any] | None:
    """A pass state in the versioned layout: bare metric states (the layout before per-metric versions;
    the human pass then held the closed-loop state itself) are read as version 1."""
    if state is None:
        return None
    if pass_name == "human" and "episodes" in state:
        return {"closed_loop": versioned(1, state)}
    return {k: v if _is_versioned(v) else versioned(1, v) for k, v in state.items()}


def resumable_records(
    store: RunStore,
    records: dict[str, dict[str, Any]],
    grid: GridSpec,
    labels: LabelSet,
    registry: MetricRegistry | None = None,
) -> dict[str, dict[str, Any]]:
    """The records of ``store``'s results.jsonl that the resumed run keeps (see the module docstring):
    complete ones as they are, ones completed from their recorded episode (appended to the file).
    Scenarios left out run again. ValidationError naming the file for a record of an earlier protocol
    or a metric state of another schema version."""
    registry = registry or metric_registry.METRICS
    results = store.results_path
    stale = [s for s, r in records.items() if not set(PASSES) <= set(r.get("state", {}))]
    if stale:
        raise ValidationError(
            f"{results}: records of {stale} lack the per-pass 'state' fields {PASSES} "
            "(written by an earlier protocol): start a new run in another --out"
        )
    states = {s: {p: with_versions(p, r["state"][p]) for p in PASSES} for s, r in records.items()}
    _refuse_other_versions(results, states, registry)
    kept: dict[str, dict[str, Any]] = {}
    rerun: dict[tuple[str, int], list[str]] = defaultdict(list)
    for scene, record in records.items():
        state = states[scene]
        missing = [
            (p, spec)
            for p in PASSES
            if state[p] is not None
            for spec in registry.for_pass(p)
            if spec.name not in state[p]
        ]
        episode = store.dir / "episodes" / f"{scene}.npz"
        if not missing:
            kept[scene] = record | {"state": state}
        elif all(p == RECOMPUTABLE_PASS and spec.record is EpisodeHistory for p, spec in missing) and episode.is_file():
            kept[scene] = _recomputed(record, state, missing, EpisodeHistory.load(episode), grid, labels, registry)
            store.append(kept[scene])
        else:
            for _, spec in missing:
                rerun[(spec.name, spec.version)].append(scene)
    for (name, version), scenes in rerun.items():
        print(
            f"{results}: the records of {sorted(set(scenes))} lack metric {name!r} (version {version}, registered "
            "after they were written): running those scenarios again",
            file=sys.stderr,
        )
    return kept


def _refuse_other_versions(results: Path, states: dict[str, dict[str, Any]], registry: MetricRegistry) -> None:
    """ValidationError listing every (metric, pass, recorded version) that differs from the registry's."""
    found: dict[tuple[str, str, Any, int], list[str]] = defaultdict(list)
    for scene, state in states.items():
        for p in PASSES:
            for spec in registry.for_pass(p) if state[p] is not None else ():
                entry = state[p].get(spec.name)
                if entry is not None and entry["version"] != spec.version:
                    found[(spec.name, p, entry["version"], spec.version)].append(scene)
    if found:
        lines = [
            f"metric {name!r} ({p} pass) recorded with state version {old} in {scenes}; this code writes version {new}"
            for (name, p, old, new), scenes in found.items()
        ]
        raise ValidationError(
            f"{results}: " + "; ".join(lines) + ". States of two versions cannot be merged: start a new run in "
            "another --out (or delete those scenarios' lines from the file to run them again)"
        )


def _recomputed(
    record: dict[str, Any],
    state: dict[str, Any],
    missing: list[tuple[str, MetricSpec]],
    history: EpisodeHistory,
    grid: GridSpec,
    labels: LabelSet,
    registry: MetricRegistry,
) -> dict[str, Any]:
    """``record`` with the ``missing`` metrics' states computed from its recorded episode and its
    per-scenario ``metrics`` recomputed from the completed states."""
    state = {p: dict(s) if s is not None else None for p, s in state.items()}
    for p, spec in missing:
        accumulator = spec.create(MetricContext(grid, labels))
        spec.update(accumulator, history)
        state[p][spec.name] = versioned(spec.version, accumulator.state())
    metrics = RunMetrics.merged(grid, labels, [state], registry).compute()
    return json_safe(record | {"state": state, "metrics": metrics})
