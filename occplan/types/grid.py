"""Voxel grid specification (`GridSpec`) and its presets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError


@dataclass(frozen=True)
class GridSpec:
    """An axis-aligned voxel grid indexed ``[x, y, z]``.

    Voxel ``(i, j, k)`` covers ``range_min_m + [i, j, k] * voxel_size_m`` to that plus one voxel;
    its centre is ``range_min_m + ([i, j, k] + 0.5) * voxel_size_m``. ``frame`` names the
    coordinate frame of the metric coordinates ("ego" or "lidar").
    """

    name: str
    range_min_m: tuple[float, float, float]
    voxel_size_m: float
    shape: tuple[int, int, int]
    frame: str

    def __post_init__(self) -> None:
        if self.voxel_size_m <= 0:
            raise ValidationError(f"GridSpec.voxel_size_m: must be > 0, got {self.voxel_size_m}")
        if len(self.shape) != 3 or any(int(s) <= 0 for s in self.shape):
            raise ValidationError(f"GridSpec.shape: expected 3 positive ints, got {self.shape}")
        if self.frame not in ("ego", "lidar"):
            raise ValidationError(f"GridSpec.frame: expected 'ego' or 'lidar', got {self.frame!r}")

    # --- presets -------------------------------------------------------------------------
    @classmethod
    def occ3d_nuscenes(cls) -> GridSpec:
        """Occ3D-nuScenes / OpenOcc v2: ego frame, [-40,-40,-1, 40,40,5.4] m, 0.4 m, 200x200x16."""
        return cls("occ3d_nuscenes", (-40.0, -40.0, -1.0), 0.4, (200, 200, 16), "ego")

    @classmethod
    def openoccupancy(cls) -> GridSpec:
        """OpenOccupancy (nuScenes-Occupancy): LiDAR frame, [-51.2,-51.2,-5, 51.2,51.2,3] m, 0.2 m."""
        return cls("openoccupancy", (-51.2, -51.2, -5.0), 0.2, (512, 512, 40), "lidar")

    @classmethod
    def openocc_v1(cls) -> GridSpec:
        """OpenOcc v1 (OccNet) and SurroundOcc: LiDAR frame, [-50,-50,-5, 50,50,3] m, 0.5 m."""
        return cls("openocc_v1", (-50.0, -50.0, -5.0), 0.5, (200, 200, 16), "lidar")

    @classmethod
    def surroundocc(cls) -> GridSpec:
        """SurroundOcc: same geometry as OpenOcc v1."""
        return cls("surroundocc", (-50.0, -50.0, -5.0), 0.5, (200, 200, 16), "lidar")

    # --- geometry ------------------------------------------------------------------------
    @property
    def range_max_m(self) -> tuple[float, float, float]:
        return tuple(  # type: ignore[return-value]
            float(m + n * self.voxel_size_m) for m, n in zip(self.range_min_m, self.shape, strict=True)
        )

    @property
    def num_voxels(self) -> int:
        return int(np.prod(self.shape))

    def index_of(self, points_m: np.ndarray) -> np.ndarray:
        """Voxel index ``floor((p - min) / voxel)`` of (N, 3) points -> (N, 3) int64 (may be out of bounds)."""
        p = np.asarray(points_m, dtype=np.float64)[:, :3]
        return np.floor((p - np.asarray(self.range_min_m)) / self.voxel_size_m).astype(np.int64)

    def in_bounds(self, index: np.ndarray) -> np.ndarray:
        """(N, 3) integer indices -> (N,) bool, True where the index lies inside the grid."""
        idx = np.asarray(index)
        return np.all((idx >= 0) & (idx < np.asarray(self.shape)), axis=1)

    def centers_of(self, index: np.ndarray) -> np.ndarray:
        """(N, 3) integer indices -> (N, 3) float64 voxel-centre coordinates in metres."""
        idx = np.asarray(index, dtype=np.float64)
        return np.asarray(self.range_min_m) + (idx + 0.5) * self.voxel_size_m

    def all_centers(self) -> np.ndarray:
        """Centres of every voxel, shape (X, Y, Z, 3) float64, indexed [x, y, z]."""
        axes = [m + (np.arange(n) + 0.5) * self.voxel_size_m for m, n in zip(self.range_min_m, self.shape, strict=True)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)

    def require(self, other: GridSpec, field: str) -> None:
        """Raise if ``other`` is not this grid (a consumer built for one grid never guesses)."""
        if other != self:
            raise ValidationError(f"{field}: expected grid {self.name} {self.shape}, got {other.name} {other.shape}")
