"""Exception types. Every message names the file and/or the field at fault."""

from __future__ import annotations


class OccPlanError(Exception):
    """Base class of OccPlan errors."""


class ValidationError(OccPlanError, ValueError):
    """A value does not satisfy its documented shape, dtype, range or finiteness."""


class DataError(OccPlanError, ValueError):
    """A file on disk is missing, corrupt or mis-shaped. The message names the file and field."""


class RegistryError(OccPlanError, KeyError):
    """Unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
