"""The scenario-type table of a dataroot: ``<dataroot>/scenario_types.json``.

A generated benchmark suite tags each scene with the situation it was built for (an occluded
pedestrian stepping out, a braking lead vehicle, a construction zone, ...) and with the measured
facts of the check that the situation happens as tagged (e.g. the pedestrian's LiDAR returns before
and after it steps out). The harness reports every headline metric per type, as nuPlan reports per
scenario type and Bench2Drive per ability.

Format (JSON object, one entry per tagged scene)::

    {"scene-0003": {"type": "occluded_pedestrian",
                    "check": {"passed": true, "lidar_returns_before": 0, "lidar_returns_after": 412, ...}}}

``type`` is a non-empty string of ``[a-z0-9_]`` (it becomes part of summary keys
``type/<type>/<key>``); ``check`` is an object of measured facts whose ``passed`` is a bool and
whose other values are JSON numbers, strings, bools or lists of them. A dataroot without the file
(real nuScenes, datasets generated before the table existed) has no tagged scene; a scene missing
from the table belongs to no type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from occplan.errors import DataError

SCENARIO_TYPES_FILE = "scenario_types.json"
_TYPE_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class ScenarioTag:
    """A scene's scenario type and the facts its generation check measured (``check["passed"]``)."""

    type: str
    check: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.check.get("passed", False))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "check": dict(self.check)}


def _fact_ok(value: Any) -> bool:
    if isinstance(value, list):
        return all(_fact_ok(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def parse_scenario_types(data: Any, where: str) -> dict[str, ScenarioTag]:
    """Validate the decoded table; ``where`` (the file) leads every error message."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object {{scene_name: {{type, check}}}}, got {type(data).__name__}")
    out: dict[str, ScenarioTag] = {}
    for scene, entry in data.items():
        if not isinstance(entry, dict):
            raise DataError(f"{where}: scene {scene!r}: expected an object with 'type' and 'check'")
        unknown = sorted(set(entry) - {"type", "check"})
        if unknown:
            raise DataError(f"{where}: scene {scene!r}: unknown fields {unknown}; valid: ['check', 'type']")
        kind = entry.get("type")
        if not isinstance(kind, str) or not _TYPE_NAME.match(kind):
            raise DataError(f"{where}: scene {scene!r} field 'type': expected a name of [a-z0-9_], got {kind!r}")
        check = entry.get("check", {})
        if not isinstance(check, dict):
            raise DataError(f"{where}: scene {scene!r} field 'check': expected an object, got {type(check).__name__}")
        if "passed" in check and not isinstance(check["passed"], bool):
            raise DataError(f"{where}: scene {scene!r} field 'check.passed': expected a bool, got {check['passed']!r}")
        for name, value in check.items():
            if not _fact_ok(value):
                raise DataError(
                    f"{where}: scene {scene!r} field 'check.{name}': expected a number, string, bool or list, "
                    f"got {type(value).__name__}"
                )
        out[str(scene)] = ScenarioTag(kind, dict(check))
    return out


def read_scenario_types(dataroot: str | Path) -> dict[str, ScenarioTag]:
    """The tags of ``<dataroot>/scenario_types.json`` by scene name; {} when the file does not exist."""
    path = Path(dataroot) / SCENARIO_TYPES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
    return parse_scenario_types(data, str(path))


def scenario_types_json(tags: Mapping[str, ScenarioTag]) -> dict[str, Any]:
    """The JSON object of ``tags`` (scene order kept), the inverse of ``parse_scenario_types``."""
    return {scene: tag.to_json() for scene, tag in tags.items()}
