"""Bird's-eye picture of a predicted occupancy with LiDAR points overlaid (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occplan.types import OccupancyPrediction

# Occ3D colours (others .. vegetation), as in the Occ3D / OccNet visualisers; free is white.
OCC3D_RGB = np.array(
    [
        [0, 0, 0], [255, 120, 50], [255, 192, 203], [255, 255, 0], [0, 150, 245], [0, 255, 255],
        [200, 180, 0], [255, 0, 0], [255, 240, 150], [135, 60, 0], [160, 32, 240], [255, 0, 255],
        [139, 137, 137], [75, 0, 75], [150, 240, 80], [230, 230, 250], [0, 175, 0], [255, 255, 255],
    ],
    dtype=np.uint8,
)  # fmt: skip


def bev_labels(pred: OccupancyPrediction) -> np.ndarray:
    """(X, Y) uint8: the label of the highest non-free voxel of each column (free where none)."""
    free = pred.labels.free_index
    occupied = pred.semantics != free
    nz = pred.semantics.shape[2]
    top = nz - 1 - np.argmax(occupied[:, :, ::-1], axis=2)
    labels = np.take_along_axis(pred.semantics, top[..., None], axis=2)[..., 0]
    return np.where(occupied.any(axis=2), labels, free).astype(np.uint8)


def save_bev_picture(pred: OccupancyPrediction, points_m: np.ndarray | None, path: str | Path, title: str = "") -> Path:
    """Write a PNG of the top-view labels (x up, y left, ego frame) with (N, 3+) LiDAR points as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = pred.grid
    lo, hi = grid.range_min_m, grid.range_max_m
    rgb = OCC3D_RGB[bev_labels(pred)]  # (X, Y, 3) indexed [x, y]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    # image rows = x descending (forward up), columns = y descending (left on the left)
    ax.imshow(rgb[::-1, ::-1], extent=(hi[1], lo[1], lo[0], hi[0]))
    if points_m is not None and len(points_m):
        p = points_m[(np.abs(points_m[:, 0]) < hi[0]) & (np.abs(points_m[:, 1]) < hi[1])]
        ax.scatter(p[:, 1], p[:, 0], s=0.05, c="k", alpha=0.5)
    ax.plot([0], [0], marker="^", color="r", markersize=6)
    ax.set_xlim(hi[1], lo[1])
    ax.set_ylim(lo[0], hi[0])
    ax.set_xlabel("y (m, left)")
    ax.set_ylabel("x (m, forward)")
    ax.set_title(title)
    out = Path(path)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out
