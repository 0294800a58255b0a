"""Occupancy ground-truth readers: Occ3D, OpenOcc v2, OpenOccupancy and SurroundOcc files -> OccupancyFrame.

Formats (reference/occupancy-formats-and-metrics.md §1, §2.2, §4, §5):

- Occ3D ``gts/<scene>/<sample_token>/labels.npz``: ``semantics`` (200, 200, 16) uint8 Occ3D labels,
  ``mask_lidar`` / ``mask_camera`` uint8 {0, 1} (read as bool), optional ``flow`` (200, 200, 16, 2)
  float32 m/s (OccPlan's generated data); ego frame, 0.4 m.
- OpenOcc v2 ``openocc_v2/<scene>/<sample_token>/labels.npz``: ``semantics`` in OpenOcc order and
  ``flow``; same grid as Occ3D; no masks.
- OpenOccupancy ``nuScenes-Occupancy/scene_<scene_token>/occupancy/<lidar_sd_token>.npy``: sparse
  (N, 4) [z, y, x, cls] or (N, 7) [z, y, x, vx, vy, vz, cls]; LiDAR frame, 0.2 m, 512x512x40.
  Decoded as the reference loader: cls 0 (noise) -> 255, indices clipped to the grid, majority label
  per voxel (ties -> lowest label), 0 = empty elsewhere. The velocity columns are not decoded.
- SurroundOcc ``nuscenes_occ/samples/<lidar file name>.npy``: sparse (N, 4) [x, y, z, cls]; LiDAR
  frame, 0.5 m, 200x200x16; cls 0 (noise) -> 255, 0 = empty elsewhere.

Every reader raises DataError naming the file and the field for a missing, truncated or mis-shaped
file and for out-of-range labels or indices.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np

from occplan.errors import DataError
from occplan.io import load_npz
from occplan.types import GridSpec, LabelSet, OccupancyFrame, Pose

NOISE = 255  # OpenOccupancy / SurroundOcc noise label after decoding


class OccFormat(Enum):
    OCC3D = "occ3d"
    OPENOCC_V2 = "openocc_v2"
    OPENOCCUPANCY = "openoccupancy"
    SURROUNDOCC = "surroundocc"

    @property
    def ego_frame(self) -> bool:
        """True when the grid is in the ego frame (Occ3D, OpenOcc v2), False for the LiDAR frame."""
        return self in (OccFormat.OCC3D, OccFormat.OPENOCC_V2)


def occupancy_candidates(
    dataroot: Path, scene_name: str, scene_token: str, sample_token: str, lidar_sd_token: str, lidar_filename: str
) -> tuple[tuple[OccFormat, Path], ...]:
    """Where each format stores the GT of one keyframe, in detection order."""
    openoccupancy = dataroot / "nuScenes-Occupancy" / f"scene_{scene_token}" / "occupancy" / f"{lidar_sd_token}.npy"
    return (
        (OccFormat.OCC3D, dataroot / "gts" / scene_name / sample_token / "labels.npz"),
        (OccFormat.OPENOCC_V2, dataroot / "openocc_v2" / scene_name / sample_token / "labels.npz"),
        (OccFormat.OPENOCCUPANCY, openoccupancy),
        (OccFormat.SURROUNDOCC, dataroot / "nuscenes_occ" / "samples" / f"{Path(lidar_filename).name}.npy"),
    )


def read_occupancy(
    fmt: OccFormat, path: str | Path, world_from_grid: Pose | None = None, time_us: int = 0
) -> OccupancyFrame:
    """Read ``path`` in format ``fmt``. ``world_from_grid`` places the grid frame (ego for Occ3D and
    OpenOcc v2, LiDAR for OpenOccupancy and SurroundOcc) in the world."""
    reader = {
        OccFormat.OCC3D: read_occ3d,
        OccFormat.OPENOCC_V2: read_openocc_v2,
        OccFormat.OPENOCCUPANCY: read_openoccupancy,
        OccFormat.SURROUNDOCC: read_surroundocc,
    }[fmt]
    return reader(path, world_from_grid, time_us)


def read_occ3d(path: str | Path, world_from_grid: Pose | None = None, time_us: int = 0) -> OccupancyFrame:
    """Occ3D ``labels.npz`` -> OccupancyFrame (Occ3D grid and labels, bool masks, flow when present)."""
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    z = load_npz(path, ("semantics", "mask_lidar", "mask_camera"), optional=("flow",))
    return OccupancyFrame(
        semantics=_labels(z["semantics"], path, "semantics", grid.shape, labels.num_classes),
        grid=grid,
        labels=labels,
        flow=_flow(z["flow"], path, grid.shape) if "flow" in z else None,
        mask_lidar=_mask(z["mask_lidar"], path, "mask_lidar", grid.shape),
        mask_camera=_mask(z["mask_camera"], path, "mask_camera", grid.shape),
        world_from_grid=world_from_grid,
        time_us=time_us,
        source=str(path),
    )


def read_openocc_v2(path: str | Path, world_from_grid: Pose | None = None, time_us: int = 0) -> OccupancyFrame:
    """OpenOcc v2 ``labels.npz`` (semantics in OpenOcc order + flow) -> OccupancyFrame without masks."""
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.openocc_v2()
    z = load_npz(path, ("semantics", "flow"))
    return OccupancyFrame(
        semantics=_labels(z["semantics"], path, "semantics", grid.shape, labels.num_classes),
        grid=grid,
        labels=labels,
        flow=_flow(z["flow"], path, grid.shape),
        world_from_grid=world_from_grid,
        time_us=time_us,
        source=str(path),
    )


def read_openoccupancy(path: str | Path, world_from_grid: Pose | None = None, time_us: int = 0) -> OccupancyFrame:
    """OpenOccupancy sparse [z, y, x, cls] (or 7 columns with velocity) -> dense 512x512x40 [x, y, z]."""
    grid = GridSpec.openoccupancy()
    sparse = _sparse(path, (4, 7))
    zyx, cls = sparse[:, :3], _sparse_labels(sparse[:, -1], path)
    # The reference re-voxelises the voxel centres, which amounts to clipping the indices to the grid.
    xyz = np.clip(zyx[:, ::-1].astype(np.int64), 0, np.asarray(grid.shape) - 1)
    flat = np.ravel_multi_index(xyz.T, grid.shape)
    keys, counts = np.unique(flat * 256 + cls, return_counts=True)
    vox, lab = keys // 256, keys % 256
    order = np.lexsort((lab, -counts, vox))  # per voxel: highest count first, then lowest label
    vox, lab = vox[order], lab[order]
    first = np.r_[True, vox[1:] != vox[:-1]]
    dense = np.zeros(grid.num_voxels, dtype=np.uint8)
    dense[vox[first]] = lab[first]
    return _sparse_frame(dense.reshape(grid.shape), grid, path, world_from_grid, time_us)


def read_surroundocc(path: str | Path, world_from_grid: Pose | None = None, time_us: int = 0) -> OccupancyFrame:
    """SurroundOcc sparse [x, y, z, cls] -> dense 200x200x16 [x, y, z] (0.5 m, LiDAR frame)."""
    grid = GridSpec.surroundocc()
    sparse = _sparse(path, (4,))
    idx = sparse[:, :3].astype(np.int64)
    outside = ~grid.in_bounds(idx)
    if np.any(outside):
        raise DataError(f"{path}: field [x, y, z]: {int(outside.sum())} indices outside the grid {grid.shape}")
    dense = np.zeros(grid.shape, dtype=np.uint8)
    dense[idx[:, 0], idx[:, 1], idx[:, 2]] = _sparse_labels(sparse[:, 3], path)
    return _sparse_frame(dense, grid, path, world_from_grid, time_us)


# --- field checks ----------------------------------------------------------------------------------


def _labels(a: np.ndarray, path: str | Path, field: str, shape: tuple[int, ...], num_classes: int) -> np.ndarray:
    if a.shape != shape:
        raise DataError(f"{path}: field '{field}' has shape {a.shape}, expected {shape}")
    if a.dtype.kind not in "ui":
        raise DataError(f"{path}: field '{field}' has dtype {a.dtype}, expected an integer label array")
    bad = (a < 0) | (a >= num_classes)
    if np.any(bad):
        raise DataError(
            f"{path}: field '{field}' has {int(bad.sum())} labels outside [0, {num_classes}) "
            f"(e.g. {np.unique(a[bad])[:5].tolist()})"
        )
    return a.astype(np.uint8, copy=False)


def _mask(a: np.ndarray, path: str | Path, field: str, shape: tuple[int, ...]) -> np.ndarray:
    if a.shape != shape:
        raise DataError(f"{path}: field '{field}' has shape {a.shape}, expected {shape}")
    if a.dtype != np.bool_ and (a.dtype.kind not in "ui" or np.any((a != 0) & (a != 1))):
        raise DataError(f"{path}: field '{field}' must hold 0/1 values (dtype {a.dtype})")
    return a.astype(bool)


def _flow(a: np.ndarray, path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    if a.shape != (*shape, 2):
        raise DataError(f"{path}: field 'flow' has shape {a.shape}, expected {(*shape, 2)}")
    if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
        raise DataError(f"{path}: field 'flow' must be finite floats (dtype {a.dtype})")
    return a.astype(np.float32, copy=False)


def _sparse(path: str | Path, widths: tuple[int, ...]) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    try:
        a = np.load(p, allow_pickle=False)
    except Exception as e:  # ValueError (truncated / pickled), OSError, EOFError
        raise DataError(f"{p}: corrupt or truncated npy ({type(e).__name__}: {e})") from e
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[1] not in widths:
        shape = getattr(a, "shape", None)
        raise DataError(f"{p}: sparse occupancy has shape {shape}, expected (N, {' or '.join(map(str, widths))})")
    if a.dtype.kind not in "uif" or (a.dtype.kind == "f" and not np.all(np.isfinite(a))):
        raise DataError(f"{p}: sparse occupancy must be finite numbers, got dtype {a.dtype}")
    return a


def _sparse_labels(cls: np.ndarray, path: str | Path) -> np.ndarray:
    """Class column (0 noise, 1..16) -> uint8 with noise as 255."""
    bad = (cls < 0) | (cls > 16) | (cls != np.round(cls))
    if np.any(bad):
        raise DataError(
            f"{path}: field 'cls' has {int(bad.sum())} labels outside 0..16 (e.g. {np.unique(cls[bad])[:5].tolist()})"
        )
    out = cls.astype(np.uint8)
    out[out == 0] = NOISE
    return out


def _sparse_frame(
    dense: np.ndarray, grid: GridSpec, path: str | Path, world_from_grid: Pose | None, time_us: int
) -> OccupancyFrame:
    return OccupancyFrame(
        semantics=dense,
        grid=grid,
        labels=LabelSet.openoccupancy(),
        world_from_grid=world_from_grid,
        time_us=time_us,
        source=str(path),
    )
