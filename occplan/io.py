"""Small file readers shared across the project (no pickle anywhere)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from occplan.errors import DataError


def cache_root() -> Path:
    """OccPlan's cache folder (generated datasets, numba kernels): ``$OCCPLAN_CACHE`` when set, else
    ``~/.cache/occplan``."""
    env = os.environ.get("OCCPLAN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "occplan"


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; DataError naming the file if it is missing or corrupt."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: image file not found")
    try:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise DataError(f"{p}: cannot decode image ({e})") from e


def load_npz(path: str | Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load the named arrays of an npz with ``allow_pickle=False``; ``optional`` keys are loaded when present.

    Raises DataError naming the file for a missing file, a corrupt/truncated archive, or a missing key.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataError(f"{p}: missing field(s) {missing}; has {sorted(z.files)}")
            return {k: z[k] for k in (*keys, *(o for o in optional if o in z.files))}
    except DataError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError, OSError
        raise DataError(f"{p}: corrupt or truncated npz ({type(e).__name__}: {e})") from e


def json_safe(value):
    """Non-finite floats -> None, numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
