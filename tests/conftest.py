"""Shared fixtures. Real-data tests use ../shared/data/nuscenes-real-mini and skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_MINI = Path(os.environ.get("OCCPLAN_REAL_MINI", REPO.parent / "shared" / "data" / "nuscenes-real-mini"))
OCC3D_SAMPLE = REAL_MINI / "extras" / "occ3d_sample" / "29796060110c4163b07f06eff4af0753" / "labels.npz"


@pytest.fixture(scope="session")
def real_mini() -> Path:
    if not (REAL_MINI / "v1.0-mini").is_dir():
        pytest.skip(f"real nuScenes extract not found at {REAL_MINI} (only present beside a checkout with ../shared)")
    return REAL_MINI


@pytest.fixture(scope="session")
def occ3d_sample_path() -> Path:
    if not OCC3D_SAMPLE.is_file():
        pytest.skip(f"Occ3D sample labels.npz not found at {OCC3D_SAMPLE}")
    return OCC3D_SAMPLE


@pytest.fixture(scope="session")
def tiny_dataroot() -> Path:
    """The generated "tiny" dataroot (2 scenes x 6 s, 320x180 cameras), built once into the cache
    (``$OCCPLAN_CACHE`` or ``~/.cache/occplan``) and reused; parallel workers wait on a file lock."""
    from scenarios.datasets import ensure

    return ensure("tiny", progress=False)
