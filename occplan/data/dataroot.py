"""Which nuScenes dataroot and table version a path names: one rule for the CLI, the evaluator and the env."""

from __future__ import annotations

import os
from pathlib import Path

from occplan.errors import ValidationError

TABLE_PREFIX = "v1.0-"


def table_versions(root: Path) -> list[str]:
    """The ``v1.0-*`` table folders directly under ``root`` (sorted names; [] when none or not a folder)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith(TABLE_PREFIX))


def resolve_dataroot(dataroot: str | os.PathLike, version: str | None = None) -> tuple[Path, str]:
    """(absolute dataroot, table version) of a nuScenes-format dataroot.

    ``dataroot`` must be a folder holding at least one ``v1.0-*`` table folder. ``version`` None picks
    the only one; with several, the version must be given. A given ``version`` must exist. Any other
    case is a ValidationError naming the path and listing the table folders found.
    """
    root = Path(dataroot).expanduser().resolve()
    found = table_versions(root)
    if not found:
        what = "" if root.is_dir() else "missing folder; "
        raise ValidationError(f"{root}: is not a nuScenes dataroot ({what}no {TABLE_PREFIX}* table folder)")
    if version is None:
        if len(found) > 1:
            raise ValidationError(f"{root}: holds several table versions {found}; pass the version to use")
        return root, found[0]
    if version not in found:
        raise ValidationError(f"{root}: no table version {version!r}; it holds {found}")
    return root, version
