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


def test_an_overhead_deck_is_not_the_ground():
    """Under a bridge: the road at k = 2, the deck (driveable surface, 3.6 m of free space below it) at
    k = 12 with a railing on it. The column's ground is the road, so neither deck nor railing is an
    obstacle; a car under the bridge still is. A raised surface 0.8 m above the road (k = 5) continues
    the road's surface, so what stands on it is measured from it."""
    bridge = np.full((1, 1, 16), FREE, np.uint8)
    bridge[0, 0, 2] = ROAD
    bridge[0, 0, 12] = ROAD
    bridge[0, 0, 13:15] = WALL
    assert not obstacle_columns(bridge, LABELS, 0.4).any()
    bridge[0, 0, 4] = LABELS.index("car")
    assert obstacle_voxels(bridge, LABELS, 0.4)[0, 0].nonzero()[0].tolist() == [4]
    ramp = np.full((1, 1, 16), FREE, np.uint8)
    ramp[0, 0, 2] = ramp[0, 0, 5] = ROAD
    ramp[0, 0, 6:8] = WALL  # 0.2 and 0.6 m above the raised surface: only the second layer blocks
    assert obstacle_voxels(ramp, LABELS, 0.4)[0, 0].nonzero()[0].tolist() == [7]


def test_columns_are_independent():
    block = np.concatenate([column(), column(k4=WALL), column(k3=WALL)], axis=0)
    block[1, 0, 3] = WALL
    assert obstacle_columns(block, LABELS, 0.4)[:, 0].tolist() == [False, True, False]


def _obstacle_voxels_reference(semantics, labels, voxel_m, band_m):
    """The rule in plain Python, one column at a time."""
    ground_ids = [labels.index(n) for n in ("driveable_surface", "other_flat", "sidewalk", "terrain")]
    out = np.zeros(semantics.shape, bool)
    for i, j in np.ndindex(semantics.shape[:2]):
        col = semantics[i, j].tolist()
        grounds = [k for k, c in enumerate(col) if c in ground_ids]
        support = grounds[0] if grounds else next((k for k, c in enumerate(col) if c != labels.free_index), None)
        for k in grounds[1:]:
            if (k - support - 1) * voxel_m >= band_m[1]:
                break
            support = k
        if support is None:
            continue
        for k in range(support + 1, len(col)):
            centre = (k - support - 0.5) * voxel_m
            out[i, j, k] = col[k] != labels.free_index and col[k] not in ground_ids and band_m[0] < centre <= band_m[1]
    return out


def test_the_kernel_equals_a_plain_numpy_reference_on_random_grids():
    rng = np.random.default_rng(3)
    for _ in range(5):
        sem = rng.choice([FREE] * 6 + list(range(17)), size=(40, 30, 16)).astype(np.uint8)
        for band in ((0.3, 2.0), (0.0, 5.0)):
            want = _obstacle_voxels_reference(sem, LABELS, 0.4, band)
            assert np.array_equal(obstacle_voxels(sem, LABELS, 0.4, band), want)
