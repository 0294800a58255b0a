"""Writing generated labels: Occ3D ``<out>/<scene>/<sample_token>/labels.npz`` (``semantics``,
``mask_lidar``, ``mask_camera`` uint8, ``flow`` float32 m/s) and a per-scene record ``<out>/<scene>/
labels_done.json`` written last, so a scene is finished exactly when its record exists. Every file is
written to a temporary name and renamed into place (a killed run leaves no half-written file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from occplan.errors import DataError

DONE_FILE = "labels_done.json"


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        write(fh)
    os.replace(tmp, path)


def labels_path(out_dir: str | Path, scene: str, sample_token: str) -> Path:
    return Path(out_dir) / scene / sample_token / "labels.npz"


def write_labels(
    path: Path, semantics: np.ndarray, mask_lidar: np.ndarray, mask_camera: np.ndarray, flow: np.ndarray
) -> None:
    """One keyframe's Occ3D file (masks as uint8 0/1, as released Occ3D files)."""
    arrays = {
        "semantics": semantics.astype(np.uint8),
        "mask_lidar": mask_lidar.astype(np.uint8),
        "mask_camera": mask_camera.astype(np.uint8),
        "flow": flow.astype(np.float32),
    }
    _atomic(path, lambda fh: np.savez_compressed(fh, **arrays))


def write_done(out_dir: str | Path, scene: str, record: dict) -> None:
    _atomic(Path(out_dir) / scene / DONE_FILE, lambda fh: fh.write(json.dumps(record, indent=2).encode()))


def read_done(out_dir: str | Path, scene: str) -> dict | None:
    """The scene's record, None when the scene is not finished; DataError naming a corrupt record."""
    path = Path(out_dir) / scene / DONE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
