"""Point semantics: lidarseg general classes -> Occ3D; unlabelled sweep points take the label of the
nearest labelled point within a radius (KD-tree); object points take their box's category."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from occplan.labels.aggregate import UNLABELLED
from occplan.types import AgentBox, LabelSet
from occplan.world.occupancy_gt import GENERAL_TO_OCC3D

_GENERAL = LabelSet.lidarseg_general()
_OTHERS = LabelSet.occ3d().index("others")
MOVABLE_CLASSES = tuple(
    LabelSet.occ3d().index(n)
    for n in ("bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian", "trailer", "truck")
)
"""Occ3D classes of things that move: outside every annotated box, their points are not pooled over time."""


@dataclass(frozen=True)
class StaticCloud:
    """Static points pooled in world cells: ``points_m`` (C, 3) float64 cell centres (the frame of the
    input points), ``label`` (C,) uint8 Occ3D majority class of the cell, ``weight`` (C,) float64 its
    number of points (the cell's votes when voxelised)."""

    points_m: np.ndarray
    label: np.ndarray
    weight: np.ndarray

    def select(self, keep: np.ndarray) -> StaticCloud:
        """The cells where ``keep`` (C,) bool is True."""
        return StaticCloud(self.points_m[keep], self.label[keep], self.weight[keep])

    def movable(self) -> np.ndarray:
        """(C,) bool: the cells of a ``MOVABLE_CLASSES`` class."""
        return np.isin(self.label, MOVABLE_CLASSES)

    def __add__(self, other: StaticCloud) -> StaticCloud:
        return StaticCloud(
            np.concatenate([self.points_m, other.points_m]),
            np.concatenate([self.label, other.label]),
            np.concatenate([self.weight, other.weight]),
        )


def majority(key: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per distinct ``key`` (N,) int64: (keys (U,) sorted, majority label (U,) uint8 of the (N,) uint8
    ``label`` weighted by ``weight`` (default 1), total weight (U,) float64). Ties go to the lower label."""
    w = np.ones(len(key)) if weight is None else np.asarray(weight, np.float64)
    pair, inv = np.unique(key.astype(np.int64) * 256 + label, return_inverse=True)
    votes = np.bincount(inv, w, len(pair))
    pair_key, pair_label = pair // 256, (pair % 256).astype(np.uint8)
    order = np.lexsort((-pair_label.astype(np.int64), votes, pair_key))  # last of each key = most votes, lowest label
    last = np.r_[pair_key[order][1:] != pair_key[order][:-1], True]
    keys = pair_key[order][last]
    total = np.bincount(np.searchsorted(keys, pair_key), votes, len(keys))
    return keys, pair_label[order][last], total


def static_cloud(points_m: np.ndarray, label_general: np.ndarray, cell_m: float, radius_m: float) -> StaticCloud:
    """Pool static points (N, 3) with general labels (N,) uint8 (``UNLABELLED`` = none) into cells of
    ``cell_m``. A cell holding labelled points takes their majority Occ3D class; a cell of unlabelled
    points only takes the class of the nearest labelled cell within ``radius_m`` and is dropped when
    there is none; cells whose majority is noise or the ego vehicle are dropped."""
    if len(points_m) == 0:
        return StaticCloud(np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros(0))
    occ = np.full(len(label_general), UNLABELLED, np.uint8)
    labelled = label_general != UNLABELLED
    occ[labelled] = GENERAL_TO_OCC3D[label_general[labelled]]
    labelled &= occ != UNLABELLED  # noise and ego map to 255 = UNLABELLED: they vote for nothing
    base = np.floor(points_m.min(axis=0) / cell_m)
    idx = (np.floor(points_m / cell_m) - base).astype(np.int64)
    dims = idx.max(axis=0) + 1
    key = (idx[:, 0] * dims[1] + idx[:, 1]) * dims[2] + idx[:, 2]
    cells, count = np.unique(key, return_counts=True)
    label = np.full(len(cells), UNLABELLED, np.uint8)
    voted, voted_label, _ = majority(key[labelled], occ[labelled])
    label[np.searchsorted(cells, voted)] = voted_label
    ijk = np.column_stack([cells // (dims[1] * dims[2]), cells // dims[2] % dims[1], cells % dims[2]])
    centre = (ijk + base + 0.5) * cell_m
    missing = label == UNLABELLED
    if missing.any() and not missing.all() and radius_m > 0:
        dist, near = cKDTree(centre[~missing]).query(centre[missing], distance_upper_bound=radius_m)
        found = np.isfinite(dist)
        fill = np.full(len(dist), UNLABELLED, np.uint8)
        fill[found] = label[~missing][near[found]]
        label[missing] = fill
    ok = label != UNLABELLED
    return StaticCloud(centre[ok], label[ok], count[ok].astype(np.float64))


def box_labels(boxes: tuple[AgentBox, ...]) -> np.ndarray:
    """(B,) uint8 Occ3D class of each box's category (``others`` for a category that is not a lidarseg
    general class)."""
    names = _GENERAL.class_names
    return np.array(
        [GENERAL_TO_OCC3D[names.index(b.category)] if b.category in names else _OTHERS for b in boxes], np.uint8
    )
