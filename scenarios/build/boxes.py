"""Oriented BEV boxes: corners and exact overlap tests (separating axis theorem), vectorised over time."""

from __future__ import annotations

import numpy as np


def box_corners(center_xy_m: np.ndarray, yaw_rad: np.ndarray, width_m: float, length_m: float) -> np.ndarray:
    """(..., 4, 2) corners of boxes with centres (..., 2) and yaws (...), counter-clockwise from front-left."""
    c, s = np.cos(yaw_rad)[..., None], np.sin(yaw_rad)[..., None]
    lx = np.array([length_m, -length_m, -length_m, length_m]) / 2
    ly = np.array([width_m, width_m, -width_m, -width_m]) / 2
    x = center_xy_m[..., None, 0] + lx * c - ly * s
    y = center_xy_m[..., None, 1] + lx * s + ly * c
    return np.stack([x, y], axis=-1)


def boxes_overlap(a: np.ndarray, b: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
    """Whether convex quads ``a`` and ``b`` (..., 4, 2) overlap by more than ``margin_m`` along every axis.

    Separating axis test over the 4 edge normals of both boxes; touching boxes do not overlap.
    """
    axes = []
    for q in (a, b):
        e = q[..., [1, 2], :] - q[..., [0, 1], :]
        axes.append(np.stack([-e[..., 1], e[..., 0]], axis=-1) / np.linalg.norm(e, axis=-1, keepdims=True))
    axes = np.concatenate(axes, axis=-2)  # (..., 4, 2)
    pa = np.einsum("...kd,...jd->...kj", axes, a)
    pb = np.einsum("...kd,...jd->...kj", axes, b)
    sep = (pa.max(-1) - margin_m <= pb.min(-1)) | (pb.max(-1) - margin_m <= pa.min(-1))
    return ~sep.any(-1)
