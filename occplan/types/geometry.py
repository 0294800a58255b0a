"""Rigid transforms. ``Pose`` is an SE(3) transform named ``a_from_b`` by its users.

nuScenes quaternions are (w, x, y, z); scipy's are (x, y, z, w): conversions happen only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy.spatial.transform import Rotation

from occplan.errors import ValidationError
from occplan.types._check import check_array

_NO_TRANSLATION = np.zeros(3)


def _rows3(values: object, field: str) -> np.ndarray:
    """``values`` as a float64 array of N rows of at least 3 columns (x, y, z first)."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 3:
        raise ValidationError(f"{field}: expected shape (N, 3+), got {a.shape}")
    return a


@nb.njit(cache=True)
def _affine(points, rotation, translation):  # pragma: no cover - compiled
    """(N, 3+) -> (N, 3) float64 ``rotation @ p[:3] + translation`` per row; a plain loop rather than a
    BLAS matmul, whose worker threads would busy-wait on a second core after every call."""
    out = np.empty((points.shape[0], 3))
    for i in range(points.shape[0]):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        for a in range(3):
            out[i, a] = rotation[a, 0] * x + rotation[a, 1] * y + rotation[a, 2] * z + translation[a]
    return out


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
        return _affine(_rows3(points_m, "Pose.transform_points"), self.rotation, self.translation_m)

    def transform_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Rotate (N, 3) direction vectors (no translation)."""
        return _affine(_rows3(vectors, "Pose.transform_vectors"), self.rotation, _NO_TRANSLATION)

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
