"""LiDAR return model: deterministic intensity from class reflectivity and incidence angle."""

from __future__ import annotations

import numpy as np

from occplan.types import LabelSet


def _reflectivity_table() -> np.ndarray:
    """(32,) float64 diffuse reflectivity in [0, 1] per lidarseg general class."""
    table = np.full(32, 0.2)
    spec = {
        "flat.driveable_surface": 0.08,
        "flat.sidewalk": 0.14,
        "flat.terrain": 0.12,
        "flat.other": 0.1,
        "static.manmade": 0.25,
        "static.vegetation": 0.18,
        "vehicle.car": 0.35,
        "vehicle.truck": 0.35,
        "vehicle.bus.rigid": 0.35,
        "movable_object.barrier": 0.45,
        "movable_object.trafficcone": 0.8,
        "static.other": 0.5,
    }
    names = LabelSet.lidarseg_general().class_names
    for name, value in spec.items():
        table[names.index(name)] = value
    return table


REFLECTIVITY = _reflectivity_table()


def intensity(label: np.ndarray, normal: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """nuScenes-like intensity (0..255, integer-valued float32) of N returns.

    ``label`` (N,) lidarseg general; ``normal`` (N, 3) unit surface normals; ``directions`` (N, 3)
    unit ray directions (same frame as the normals).
    """
    cos_inc = np.abs(np.einsum("ij,ij->i", normal.astype(np.float64), directions))
    return np.round(255.0 * REFLECTIVITY[label] * (0.25 + 0.75 * cos_inc)).astype(np.float32)
