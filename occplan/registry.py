"""Name -> factory registries, one per plugin kind.

A duplicate name is an error; an unknown name is an error listing the known names. Plugins register
themselves in their package ``__init__`` (``models/__init__.py`` etc.) and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from occplan.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a name to a factory ``(**kwargs) -> T``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T] | None = None):
        """Register ``factory`` under ``name``; usable as a decorator when ``factory`` is omitted."""

        def _add(f: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise RegistryError(f"{self.kind} registry: duplicate name {name!r}")
            self._factories[name] = f
            return f

        return _add(factory) if factory is not None else _add

    def create(self, name: str, **kwargs) -> T:
        return self.factory(name)(**kwargs)

    def factory(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._factories)) or '(none)'}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories
