"""nuScenes-lidarseg point labels (``lidarseg/<version>/<sd_token>_lidarseg.bin``, uint8 per point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nuscenes.nuscenes import NuScenes

from occplan.errors import DataError
from occplan.types import LabelSet


def read_lidarseg_bin(path: str | Path, num_points: int) -> np.ndarray:
    """(N,) uint8 raw labels of one sweep; DataError naming the file when missing or of the wrong length."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: lidarseg label file not found")
    labels = np.fromfile(p, dtype=np.uint8)
    if len(labels) != num_points:
        raise DataError(f"{p}: {len(labels)} labels for {num_points} LiDAR points")
    return labels


def general_index_table(nusc: NuScenes) -> np.ndarray:
    """(256,) uint8 lookup from the dataroot's ``category.json`` ``index`` to ``LabelSet.lidarseg_general()``.

    Matching goes by category name, so a dataroot with its own index order still yields the general
    labels; indices that ``category.json`` does not define map to 255 (rejected by ``lidarseg_labels``).
    """
    general = LabelSet.lidarseg_general()
    table = np.full(256, 255, dtype=np.uint8)
    path = Path(nusc.dataroot) / nusc.version / "category.json"
    for row in nusc.category:
        if "index" not in row:
            raise DataError(f"{path}: category {row.get('name')!r} lacks the lidarseg field 'index'")
        if row["name"] not in general.class_names:
            raise DataError(f"{path}: category {row['name']!r} is not a nuScenes-lidarseg general class")
        table[int(row["index"])] = general.index(row["name"])
    if "noise" not in [r["name"] for r in nusc.category]:
        table[0] = general.index("noise")  # the devkit's implicit index 0
    return table


def lidarseg_labels(path: str | Path, num_points: int, index_table: np.ndarray) -> np.ndarray:
    """(N,) uint8 general labels (``LabelSet.lidarseg_general()``) of one sweep's points, in file order."""
    raw = read_lidarseg_bin(path, num_points)
    out = index_table[raw]
    bad = out == 255
    if np.any(bad):
        examples = np.unique(raw[bad])[:5].tolist()
        raise DataError(f"{path}: {int(bad.sum())} labels not defined in category.json (e.g. {examples})")
    return out
