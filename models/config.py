"""Config helpers: frozen dataclasses are the source of truth; dicts (JSON, CLI) fill them."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from occplan.errors import ValidationError

C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any], where: str) -> C:
    """Build the frozen dataclass ``cls`` from ``data``; an unknown key is an error listing the valid ones.

    Lists become tuples (JSON has no tuples).
    """
    valid = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ValidationError(f"{where}: unknown config key(s) {unknown}; valid: {', '.join(sorted(valid))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def preset(presets: dict[str, C], name: str, kind: str) -> C:
    """Look up a named preset (``tiny`` / ``base``); unknown names list the known ones."""
    try:
        return presets[name]
    except KeyError:
        raise ValidationError(f"{kind}: unknown config {name!r}; known: {', '.join(sorted(presets))}") from None
