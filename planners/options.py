"""Planner options: ``key=value`` settings applied to a planner's frozen config dataclass.

A key names a field of the config (``speed_fractions``) or, with dots, a field of a nested config
dataclass (``reference.limit_preview_m``). Values are JSON/YAML values checked against the field's
current value: numbers for numbers (an int is accepted for a float), lists for tuples, booleans for
booleans, strings for strings. Anything else is a ValidationError naming the key and the valid ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

from occplan.errors import ValidationError

C = TypeVar("C")


def option_names(config: Any) -> list[str]:
    """The option keys of ``config``'s fields; a nested config dataclass shows as ``name.*``."""
    return [f"{f.name}.*" if is_dataclass(getattr(config, f.name)) else f.name for f in fields(config)]


def with_options(config: C, options: Mapping[str, Any], where: str, prefix: str = "") -> C:
    """``config`` with ``options`` applied (see the module docstring); ``where`` names the options in
    error messages, ``prefix`` is the dotted path of ``config`` inside the top-level config."""
    names = {f.name for f in fields(config)}
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in options.items():
        head, dot, rest = key.partition(".")
        current = getattr(config, head, None) if head in names else None
        if head not in names or bool(dot) != is_dataclass(current):
            raise ValidationError(
                f"{where}: unknown option {prefix + key!r} of {type(config).__name__}; "
                f"valid: {', '.join(prefix + n for n in option_names(config))}"
            )
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            changes[head] = _checked(current, value, f"{where} {prefix + key!r}")
    for head, sub in nested.items():
        changes[head] = with_options(getattr(config, head), sub, where, f"{prefix}{head}.")
    return replace(config, **changes)


def _checked(current: Any, value: Any, where: str) -> Any:
    """``value`` in the type of the field's ``current`` value; ValidationError when it does not fit."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(current, bool):
        ok, out = isinstance(value, bool), value
    elif isinstance(current, float):
        ok, out = number, float(value) if number else value
    elif isinstance(current, int):
        ok, out = number and float(value).is_integer(), int(value) if number else value
    elif isinstance(current, tuple):
        ok, out = isinstance(value, list | tuple), tuple(value) if isinstance(value, list | tuple) else value
    elif isinstance(current, str):
        ok, out = isinstance(value, str), value
    else:
        ok, out = True, value
    if not ok:
        raise ValidationError(f"{where}: expected a value like {current!r}, got {value!r}")
    return out
