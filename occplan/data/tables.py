"""Opening a nuScenes-format dataroot through nuscenes-devkit, with errors that name the file.

The devkit reports a missing or broken table as a bare ``FileNotFoundError`` / ``AssertionError`` /
``KeyError``; here every such failure becomes a ``DataError`` naming the table file (and the token).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from nuscenes.nuscenes import NuScenes

from occplan.errors import DataError
from occplan.types import Pose

REQUIRED_TABLES = (
    "attribute",
    "calibrated_sensor",
    "category",
    "ego_pose",
    "instance",
    "log",
    "map",
    "sample",
    "sample_annotation",
    "sample_data",
    "scene",
    "sensor",
    "visibility",
)


def open_nuscenes(dataroot: Path, version: str) -> NuScenes:
    """Load the 13 tables (plus lidarseg when present) of ``dataroot/version`` with the devkit."""
    table_root = dataroot / version
    if not dataroot.is_dir():
        raise DataError(f"{dataroot}: dataroot not found")
    if not table_root.is_dir():
        raise DataError(f"{table_root}: table folder for version {version!r} not found")
    for name in REQUIRED_TABLES:
        if not (table_root / f"{name}.json").is_file():
            raise DataError(f"{table_root / (name + '.json')}: required nuScenes table '{name}' is missing")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except Exception as e:
        raise DataError(f"{_culprit(table_root)}: nuscenes-devkit could not load it ({type(e).__name__}: {e})") from e


def _culprit(table_root: Path) -> Path:
    """The first table file that is not valid JSON (the folder when all parse)."""
    for path in sorted(table_root.glob("*.json")):
        try:
            json.loads(path.read_text())
        except (ValueError, OSError):
            return path
    return table_root


def get_row(nusc: NuScenes, table: str, token: str, referrer: str) -> dict[str, Any]:
    """``nusc.get(table, token)``; DataError naming the table file and who referenced the token."""
    try:
        return nusc.get(table, token)
    except KeyError:
        path = Path(nusc.dataroot) / nusc.version / f"{table}.json"
        raise DataError(f"{path}: no row with token {token!r} (referenced by {referrer})") from None


def pose_of(row: dict[str, Any], table: str) -> Pose:
    """``Pose`` from an ``ego_pose`` or ``calibrated_sensor`` row (nuScenes quaternion w, x, y, z)."""
    try:
        return Pose.from_nuscenes(row["translation"], row["rotation"])
    except (KeyError, ValueError, TypeError) as e:
        raise DataError(f"{table}.json row {row.get('token')!r}: bad translation/rotation ({e})") from e
