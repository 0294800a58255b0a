"""Rigid transforms. ``Pose`` is an SE(3) transform named ``a_from_b`` by its users.

nuScenes quaternions are (w, x, y, z); scipy's are (x, y, z, w): conversions happen only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from occplan.types._check import check_array


@dataclass(frozen=True)
class Pose:
    """SE(3) transform ``p_a = rotation @ p_b + translation_m`` (a = target frame, b = source)."""

    rotation: np.ndarray  # (3, 3) float64, orthonormal
    translation_m: np.ndarray  # (3,) float64

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_array(self.rotation, "Pose.rotation", (3, 3), np.float64, finite=True)
        check_array(self.translation_m, "Pose.translation_m", (3,), np.float64, finite=True)

    # --- construction --------------------------------------------------------------------
    @classmethod
    def identity(cls) -> Pose:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_nuscenes(cls, translation: Sequence[float], rotation_wxyz: Sequence[float]) -> Pose:
        """From a nuScenes ``ego_pose`` / ``calibrated_sensor`` row (quaternion w, x, y, z)."""
        w, x, y, z = (float(v) for v in rotation_wxyz)
        rot = Rotation.from_quat([x, y, z, w]).as_matrix()
        return cls(rot, np.asarray(translation, dtype=np.float64).reshape(3).copy())

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Pose:
        m = np.asarray(matrix, dtype=np.float64)
        check_array(m, "Pose matrix", (4, 4), np.float64, finite=True)
        return cls(m[:3, :3].copy(), m[:3, 3].copy())

    @classmethod
    def from_xy_yaw(cls, x_m: float, y_m: float, yaw_rad: float, z_m: float = 0.0) -> Pose:
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return cls(rot, np.array([x_m, y_m, z_m], dtype=np.float64))

    # --- algebra -------------------------------------------------------------------------
    @property
    def matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation_m
        return m

    def __matmul__(self, other: Pose) -> Pose:
        """Compose: ``a_from_b @ b_from_c = a_from_c``."""
        return Pose(self.rotation @ other.rotation, self.rotation @ other.translation_m + self.translation_m)

    def inverse(self) -> Pose:
        rt = self.rotation.T
        return Pose(rt.copy(), -rt @ self.translation_m)

    def transform_points(self, points_m: np.ndarray) -> np.ndarray:
        """(N, 3+) points in frame b -> (N, 3) float64 points in frame a (extra columns dropped)."""
        p = np.asarray(points_m, dtype=np.float64)[:, :3]
        return p @ self.rotation.T + self.translation_m

    def transform_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Rotate (N, 3) direction vectors (no translation)."""
        return np.asarray(vectors, dtype=np.float64)[:, :3] @ self.rotation.T

    @property
    def yaw_rad(self) -> float:
        """Heading of the x axis projected on the ground plane."""
        return float(np.arctan2(self.rotation[1, 0], self.rotation[0, 0]))

    @property
    def quaternion_wxyz(self) -> np.ndarray:
        x, y, z, w = Rotation.from_matrix(self.rotation).as_quat()
        return np.array([w, x, y, z])

    def allclose(self, other: Pose, atol: float = 1e-9) -> bool:
        return bool(np.allclose(self.matrix, other.matrix, atol=atol))


def wrap_angle(angle_rad: np.ndarray | float) -> np.ndarray | float:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(angle_rad) + np.pi) % (2 * np.pi) - np.pi


def se2_transform(xy_yaw: np.ndarray, a_from_b: Pose) -> np.ndarray:
    """Transform (N, 3) planar poses (x, y, yaw) from frame b to frame a using the planar part of a_from_b."""
    p = np.asarray(xy_yaw, dtype=np.float64)
    xyz = np.concatenate([p[:, :2], np.zeros((len(p), 1))], axis=1)
    out = a_from_b.transform_points(xyz)[:, :2]
    yaw = wrap_angle(p[:, 2] + a_from_b.yaw_rad)
    return np.concatenate([out, np.asarray(yaw).reshape(-1, 1)], axis=1)
