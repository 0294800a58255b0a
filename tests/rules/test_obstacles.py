"""The voxel-obstacle rule on hand-made columns (0.4 m voxels, road voxel top at z = 0)."""

from __future__ import annotations

import numpy as np

from occplan.rules.obstacles import obstacle_columns, obstacle_voxels
from occplan.types import LabelSet

LABELS = LabelSet.occ3d()
FREE, ROAD, WALL = LABELS.free_index, LABELS.index("driveable_surface"), LABELS.index("manmade")


def column(**voxels: int) -> np.ndarray:
    """A (1, 1, 8) column: road at k = 2 plus ``k<i>=label`` voxels."""
    col = np.full((1, 1, 8), FREE, np.uint8)
    col[0, 0, 2] = ROAD
    for name, label in voxels.items():
        col[0, 0, int(name[1:])] = label
    return col


def test_each_column_is_measured_from_its_own_ground():
    assert not obstacle_columns(column(), LABELS, 0.4).any()
    # one layer on the road (centre 0.2 m): a kerb, a speed bump or a mislabelled ramp, not an obstacle
    assert not obstacle_columns(column(k3=WALL), LABELS, 0.4).any()
    wall = column(k3=WALL, k4=WALL)  # 0.8 m: the second layer (centre 0.6 m) blocks
    assert obstacle_voxels(wall, LABELS, 0.4)[0, 0].tolist() == [False] * 4 + [True] + [False] * 3
    overhead = column(k7=WALL)  # centre 1.8 m above the road: inside the 2 m band
    assert obstacle_columns(overhead, LABELS, 0.4).any()
    assert not obstacle_columns(overhead, LABELS, 0.4, (0.3, 1.5)).any()
    slope = np.full((1, 1, 8), FREE, np.uint8)
    slope[0, 0, 4] = WALL  # unlabelled raised road surface: the lowest occupied voxel is the ground
    assert not obstacle_columns(slope, LABELS, 0.4).any()
    slope[0, 0, 5:7] = WALL  # and what stands 0.4-1.2 m on it is an obstacle
    assert obstacle_columns(slope, LABELS, 0.4).any()


def test_columns_are_independent():
    block = np.concatenate([column(), column(k4=WALL), column(k3=WALL)], axis=0)
    block[1, 0, 3] = WALL
    assert obstacle_columns(block, LABELS, 0.4)[:, 0].tolist() == [False, True, False]


def _obstacle_voxels_reference(semantics, labels, voxel_m, band_m):
    """The rule in plain numpy, column-parallel."""
    occupied = semantics != labels.free_index
    ground = np.isin(semantics, [labels.index(n) for n in ("driveable_surface", "other_flat", "sidewalk", "terrain")])
    k = np.arange(semantics.shape[2])
    top_ground = semantics.shape[2] - 1 - np.argmax(ground[..., ::-1], axis=2)
    support = np.where(ground.any(axis=2), top_ground, np.argmax(occupied, axis=2))[..., None]
    centre = (k - support - 0.5) * voxel_m
    return occupied & ~ground & (k > support) & (centre > band_m[0]) & (centre <= band_m[1])


def test_the_kernel_equals_a_plain_numpy_reference_on_random_grids():
    rng = np.random.default_rng(3)
    for _ in range(5):
        sem = rng.choice([FREE] * 6 + list(range(17)), size=(40, 30, 16)).astype(np.uint8)
        for band in ((0.3, 2.0), (0.0, 5.0)):
            want = _obstacle_voxels_reference(sem, LABELS, 0.4, band)
            assert np.array_equal(obstacle_voxels(sem, LABELS, 0.4, band), want)
