"""A numba cache that cannot go stale across modules.

numba's ``cache=True`` keys a compiled kernel on its own source file only: a kernel that calls a
jitted helper of another module keeps its old machine code when only the helper changes. OccPlan
therefore keeps its numba cache in a folder named by a hash of every source file of its packages
that uses numba (``<cache>/numba/<hash>``, ``<cache>`` = ``$OCCPLAN_CACHE`` or ``~/.cache/occplan``):
any change to any jitted code starts a fresh cache. A ``NUMBA_CACHE_DIR`` set by the user wins.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from occplan.io import cache_root

PACKAGES = ("occplan", "envs", "models", "planners", "scenarios")
"""The project's top-level packages, siblings of ``occplan`` in the source tree."""


def sources_hash(root: Path, packages: tuple[str, ...] = PACKAGES) -> str:
    """SHA-256 (16 hex digits) over the relative paths and bytes of the ``*.py`` files of ``packages``
    under ``root`` that mention numba."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            data = path.read_bytes()
            if b"numba" in data:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + data)
    return digest.hexdigest()[:16]


def configure() -> Path | None:
    """Point numba's cache at ``<cache>/numba/<sources_hash>`` unless ``NUMBA_CACHE_DIR`` is set; returns
    the folder (None when the user's setting stands). Works before or after numba is imported, as
    long as no OccPlan kernel has been defined yet."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    folder = cache_root() / "numba" / sources_hash(Path(__file__).resolve().parents[1])
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    import sys

    if "numba" in sys.modules:
        from numba import config

        config.CACHE_DIR = str(folder)
    return folder
