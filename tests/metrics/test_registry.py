"""The metric registry: the built-in metrics with their passes, key prefixes, records and versions;
registration rules (duplicates, bad specs) and temporary registries that leave ``METRICS`` alone."""

from __future__ import annotations

import pytest

from occplan.errors import RegistryError, ValidationError
from occplan.metrics import METRICS, LidarSegStep, MetricRegistry, MetricSpec, OccupancyStep, StepRuntime
from occplan.metrics.planning import PlanningSample
from occplan.metrics.runtime import RuntimeMetric
from occplan.types import EpisodeHistory


def _spec(**changes) -> MetricSpec:
    fields = {
        "name": "toy",
        "version": 1,
        "passes": {"open": ""},
        "record": StepRuntime,
        "create": lambda context: RuntimeMetric(),
        "update": RuntimeMetric.update,
        "compute": RuntimeMetric.compute,
    }
    return MetricSpec(**(fields | changes))


def test_the_built_in_metrics():
    table = {s.name: (s.version, dict(s.passes), s.record) for s in METRICS}
    assert table == {
        "occ": (1, {"open": "", "closed": "closed/"}, OccupancyStep),
        "ray": (1, {"open": "", "closed": "closed/"}, OccupancyStep),
        "lidarseg": (1, {"open": "", "closed": "closed/"}, LidarSegStep),
        "plan": (1, {"open": ""}, PlanningSample),
        "closed_loop": (1, {"closed": "", "human": "ref/human/"}, EpisodeHistory),
        "runtime_ms": (1, {"open": "", "closed": ""}, StepRuntime),
    }
    assert [s.name for s in METRICS.for_pass("human")] == ["closed_loop"]


def test_a_duplicate_name_is_refused():
    registry = MetricRegistry((_spec(),))
    with pytest.raises(RegistryError, match="duplicate name 'toy'"):
        registry.register(_spec(version=2))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"passes": {"opn": ""}}, r"passes: \['opn'\]; valid passes: open, closed, human"),
        ({"passes": {}}, "valid passes"),
        ({"version": 0}, r"version: an int >= 1, got 0"),
        ({"version": True}, "version: an int >= 1"),
        ({"name": "occ/toy"}, "name: letters, digits and '_' only"),
        ({"record": "StepRuntime"}, "record: a type"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(changes, message):
    with pytest.raises(ValidationError, match=message):
        _spec(**changes)


def test_an_extended_registry_leaves_the_original_alone():
    extended = METRICS.extended(_spec())
    assert "toy" in extended and "toy" not in METRICS
    assert extended.names() == [*METRICS.names(), "toy"]
    assert [s.name for s in extended.for_pass("open")][-1] == "toy"
    with pytest.raises(ValidationError, match="pass 'replay'"):
        extended.for_pass("replay")
    with pytest.raises(RegistryError, match="unknown metric 'nope'; known: .*runtime_ms"):
        METRICS.get("nope")
