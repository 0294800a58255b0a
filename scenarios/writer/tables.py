"""The nuScenes tables of a generated dataroot: per-scene rows, merging, and writing ``<version>/*.json``.

Scenes are written independently (possibly in worker processes), each returning its ``SceneTables``;
``write_tables`` merges them in scene order with the fixed rows (category, attribute, visibility,
sensor), one ``map`` row per location, and ``lidarseg.json``. Serialisation is nuScenes style
(``json.dumps(indent=2)``), rows in a deterministic order, so the same scenes give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from occplan.errors import ValidationError
from scenarios.writer import schema
from scenarios.writer.map_names import map_token, mask_filename

# The per-scene tables (everything but the fixed rows and map.json).
SCENE_TABLES = (
    "log",
    "scene",
    "sample",
    "sample_data",
    "ego_pose",
    "calibrated_sensor",
    "instance",
    "sample_annotation",
    "lidarseg",
)


def json_dumps(obj: object) -> str:
    """The one JSON serialisation of the writer (nuScenes style: indent 2, insertion key order)."""
    return json.dumps(obj, indent=2)


@dataclass
class SceneTables:
    """Rows of one scene, keyed by table name (``SCENE_TABLES``), plus its location and log token."""

    scene_name: str
    location: str
    log_token: str
    rows: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in SCENE_TABLES})

    def add(self, table: str, row: dict) -> None:
        self.rows[table].append(row)


def map_rows(scenes: list[SceneTables]) -> list[dict]:
    """One ``semantic_prior`` map row per location, linking the logs recorded there."""
    logs: dict[str, list[str]] = {}
    for s in scenes:
        logs.setdefault(s.location, []).append(s.log_token)
    return [
        {"category": "semantic_prior", "token": map_token(loc), "filename": mask_filename(loc), "log_tokens": toks}
        for loc, toks in logs.items()
    ]


def write_tables(dataroot: Path, scenes: list[SceneTables], version: str = schema.VERSION) -> None:
    """Write the 13 tables and ``lidarseg.json`` of ``scenes`` to ``<dataroot>/<version>/``."""
    names = [s.scene_name for s in scenes]
    if len(set(names)) != len(names):
        raise ValidationError(f"{dataroot}: duplicate scene names {sorted(names)}")
    tables: dict[str, list[dict]] = {t: [r for s in scenes for r in s.rows[t]] for t in SCENE_TABLES}
    tables |= {
        "category": schema.category_rows(),
        "attribute": schema.attribute_rows(),
        "visibility": schema.visibility_rows(),
        "sensor": schema.sensor_rows(),
        "map": map_rows(scenes),
    }
    for table, rows in tables.items():
        tokens = [r["token"] for r in rows]
        if len(set(tokens)) != len(tokens):
            raise ValidationError(f"{dataroot}/{version}/{table}.json: duplicate tokens")
    out = dataroot / version
    out.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        (out / f"{table}.json").write_text(json_dumps(rows))
