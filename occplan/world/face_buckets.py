"""A bucket index of the static faces' bounding boxes over the world's xy plane: the faces whose
bounding box meets a small query box, without a scan over every face of the scene."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.errors import ValidationError


@nb.njit(cache=True, nogil=True)
def _scan(bbox_min, bbox_max, lo, hi):  # pragma: no cover - compiled
    """Ascending indices of the faces whose bounding box meets [lo, hi], by a scan over every face."""
    out = np.empty(bbox_min.shape[0], np.int64)
    n = 0
    for f in range(bbox_min.shape[0]):
        if (
            bbox_max[f, 0] >= lo[0] and bbox_max[f, 1] >= lo[1] and bbox_max[f, 2] >= lo[2]
            and bbox_min[f, 0] <= hi[0] and bbox_min[f, 1] <= hi[1] and bbox_min[f, 2] <= hi[2]
        ):  # fmt: skip
            out[n] = f
            n += 1
    return out[:n]


@nb.njit(cache=True, nogil=True)
def _query(bbox_min, bbox_max, first_cell, origin, cell, nx, ny, start, faces, lo, hi):  # pragma: no cover
    """Ascending indices of the faces whose bounding box meets [lo, hi] (3,). A face listed in several
    cells of the query is taken in the first of them (its ``first_cell`` clamped to the query's cells).
    A query whose cells list more than a third as many entries as there are faces scans every face
    instead (a scan costs about a third of the bucket walk per entry)."""
    i0 = min(max(int(np.floor((lo[0] - origin[0]) / cell)), 0), nx - 1)
    i1 = min(max(int(np.floor((hi[0] - origin[0]) / cell)), 0), nx - 1)
    j0 = min(max(int(np.floor((lo[1] - origin[1]) / cell)), 0), ny - 1)
    j1 = min(max(int(np.floor((hi[1] - origin[1]) / cell)), 0), ny - 1)
    listed = 0
    for i in range(i0, i1 + 1):
        listed += start[i * ny + j1 + 1] - start[i * ny + j0]
    if 3 * listed > bbox_min.shape[0]:
        return _scan(bbox_min, bbox_max, lo, hi)
    out = np.empty(16, np.int64)
    n = 0
    for i in range(i0, i1 + 1):
        for j in range(j0, j1 + 1):
            b = i * ny + j
            for e in range(start[b], start[b + 1]):
                f = faces[e]
                if max(first_cell[f, 0], i0) != i or max(first_cell[f, 1], j0) != j:
                    continue
                if (
            bbox_max[f, 0] >= lo[0] and bbox_max[f, 1] >= lo[1] and bbox_max[f, 2] >= lo[2]
            and bbox_min[f, 0] <= hi[0] and bbox_min[f, 1] <= hi[1] and bbox_min[f, 2] <= hi[2]
        ):  # fmt: skip
                    if n == out.shape[0]:
                        grown = np.empty(2 * n, np.int64)
                        grown[:n] = out
                        out = grown
                    out[n] = f
                    n += 1
    return np.sort(out[:n])


@dataclass(frozen=True)
class FaceBuckets:
    """Faces listed per square xy cell of ``cell_m`` (every cell their bounding box overlaps; the grid of
    ``shape`` (NX, NY) cells starts at ``origin_m`` (2,), world frame, and its edge cells also hold the
    faces beyond it). ``start`` (NX * NY + 1,) int64 and ``faces`` (K,) int32: the faces of cell (i, j)
    are ``faces[start[i * NY + j] : start[i * NY + j + 1]]``. ``bbox_min`` / ``bbox_max`` (F, 3)
    float64 are the faces' bounding boxes, ``first_cell`` (F, 2) int64 the first cell (i, j) of each."""

    bbox_min: np.ndarray
    bbox_max: np.ndarray
    first_cell: np.ndarray
    origin_m: np.ndarray
    cell_m: float
    shape: tuple[int, int]
    start: np.ndarray
    faces: np.ndarray

    @classmethod
    def from_bboxes(cls, bbox_min: np.ndarray, bbox_max: np.ndarray, cell_m: float = 4.0) -> FaceBuckets:
        """Index F bounding boxes ((F, 3) corners, world frame) in cells of ``cell_m``."""
        lo, hi = np.asarray(bbox_min, np.float64), np.asarray(bbox_max, np.float64)
        if lo.ndim != 2 or lo.shape[1] != 3 or hi.shape != lo.shape or len(lo) == 0:
            raise ValidationError(f"FaceBuckets: need (F >= 1, 3) bounding boxes, got {lo.shape} and {hi.shape}")
        if not cell_m > 0:
            raise ValidationError(f"FaceBuckets.cell_m: must be > 0, got {cell_m}")
        origin = lo[:, :2].min(axis=0)
        shape = np.maximum(np.ceil((hi[:, :2].max(axis=0) - origin) / cell_m).astype(np.int64), 1)
        c0 = np.clip(np.floor((lo[:, :2] - origin) / cell_m).astype(np.int64), 0, shape - 1)
        c1 = np.clip(np.floor((hi[:, :2] - origin) / cell_m).astype(np.int64), 0, shape - 1)
        span = c1 - c0 + 1
        count = span[:, 0] * span[:, 1]
        face = np.repeat(np.arange(len(lo), dtype=np.int32), count)
        k = np.arange(len(face)) - np.repeat(np.cumsum(count) - count, count)  # rank within the face's cells
        cell_x = np.repeat(c0[:, 0], count) + k // np.repeat(span[:, 1], count)
        cell_y = np.repeat(c0[:, 1], count) + k % np.repeat(span[:, 1], count)
        bucket = cell_x * shape[1] + cell_y
        order = np.argsort(bucket, kind="stable")
        start = np.concatenate([[0], np.cumsum(np.bincount(bucket, minlength=int(shape.prod())))]).astype(np.int64)
        return cls(lo, hi, c0, origin, float(cell_m), (int(shape[0]), int(shape[1])), start, face[order])

    def faces_in_box(self, lo_m: np.ndarray, hi_m: np.ndarray) -> np.ndarray:
        """Ascending (K,) int64 indices of the faces whose bounding box meets the box [``lo_m``,
        ``hi_m``] (3,) (world frame, boundary included)."""
        return _query(
            self.bbox_min, self.bbox_max, self.first_cell, self.origin_m, self.cell_m, self.shape[0], self.shape[1],
            self.start, self.faces, np.asarray(lo_m, np.float64), np.asarray(hi_m, np.float64),
        )  # fmt: skip
