"""The learning wrappers: ``bev_channels`` against a plain per-cell reference and golden cells,
``BEVObservation`` spaces (clean under Stable-Baselines3's checker, passing Gymnasium's),
``NormalizedAction``'s mapping."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from envs import BEV_INPUTS, BEVObservation, NormalizedAction
from envs.bev import BEV_CHANNELS, VEHICLE_CLASSES, VULNERABLE_CLASSES, bev_channels
from occplan.errors import ValidationError
from occplan.rules.obstacles import OBSTACLE_BAND_M, obstacle_voxels
from occplan.types import GridSpec, LabelSet

LABELS = LabelSet.occ3d()
GRID = GridSpec("small", (-4.0, -4.0, -1.0), 0.4, (20, 20, 8), "ego")


def _reference(semantics, flow, drivable, route_xy_m, grid, pool, full_scale):
    """Cell by cell, voxel by voxel (the obstacle mask from the rule, everything else by hand)."""
    hit = obstacle_voxels(semantics, LABELS, grid.voxel_size_m, OBSTACLE_BAND_M)
    h, w = grid.shape[0] // pool, grid.shape[1] // pool
    out = np.zeros((len(BEV_CHANNELS), h, w), np.uint8)
    out[5:] = 128
    for i in range(h):
        for j in range(w):
            cells = [(x, y) for x in range(i * pool, (i + 1) * pool) for y in range(j * pool, (j + 1) * pool)]
            vs = []
            for x, y in cells:
                out[3, i, j] |= 255 * bool(drivable[x, y])
                for z in np.flatnonzero(hit[x, y]):
                    name = LABELS.class_names[semantics[x, y, z]]
                    group = 0 if name in VEHICLE_CLASSES else 1 if name in VULNERABLE_CLASSES else 2
                    out[group, i, j] = 255
                    vs.append(flow[x, y, z])
            if vs:
                mean = np.mean(vs, axis=0)
                out[5:, i, j] = 128 + np.round(127 * np.clip(mean / full_scale, -1, 1))
    for x, y in route_xy_m:  # the route's points (the polyline between them is drawn too)
        r = int(np.floor((x - grid.range_min_m[0]) / (grid.voxel_size_m * pool)))
        c = int(np.floor((y - grid.range_min_m[1]) / (grid.voxel_size_m * pool)))
        if 0 <= r < h and 0 <= c < w:
            out[4, r, c] = 255
    return out


def _scene(rng):
    ground, free = LABELS.index("driveable_surface"), LABELS.free_index
    sem = np.full(GRID.shape, free, np.uint8)
    sem[:, :, 1] = ground
    classes = [LABELS.index(n) for n in ("car", "pedestrian", "barrier", "vegetation", "truck", "bicycle")]
    for _ in range(40):  # voxels of random classes at random heights (some above the band, some inside ground)
        sem[rng.integers(20), rng.integers(20), rng.integers(1, 8)] = rng.choice(classes)
    flow = rng.normal(0, 15, (*GRID.shape, 2)).astype(np.float32)
    drivable = rng.random(GRID.shape[:2]) < 0.3
    return sem, flow, drivable


@pytest.mark.parametrize("pool", [1, 2, 4])
def test_bev_channels_agree_with_a_per_cell_reference(pool):
    rng = np.random.default_rng(pool)
    sem, flow, drivable = _scene(rng)
    route = np.array([[-3.9, 0.1], [3.9, 0.1]])  # along x through y cell 10 // pool
    got = bev_channels(sem, flow, drivable.astype(np.uint8), route, GRID, LABELS, pool, 20.0)
    want = _reference(sem, flow, drivable, route, GRID, pool, 20.0)
    assert all(want[g].any() for g in range(3)) and (want[5] != 128).any()  # every group and the flow exercised
    assert got.shape == (7, 20 // pool, 20 // pool) and got.dtype == np.uint8
    assert np.array_equal(got[[0, 1, 2, 3, 5, 6]], want[[0, 1, 2, 3, 5, 6]])
    assert np.array_equal(np.flatnonzero(got[4].any(axis=0)), [10 // pool])  # one column, every row
    assert got[4].all(axis=0)[10 // pool] and (want[4] <= got[4]).all()


def test_bev_golden_cells():
    """A car voxel at x 2.0..2.4 m, y -0.4..0 m, 0.4..0.8 m above the road, moving at (5, -3) m/s, and a
    pedestrian standing at x -2.0..-1.6 m, y 0..0.4 m: the cells (15, 9) and (5, 10) of the 20 x 20 grid."""
    sem = np.full(GRID.shape, LABELS.free_index, np.uint8)
    sem[:, :, 1] = LABELS.index("driveable_surface")
    sem[15, 9, 3] = LABELS.index("car")
    sem[5, 10, 2:6] = LABELS.index("pedestrian")
    flow = np.zeros((*GRID.shape, 2), np.float32)
    flow[15, 9, 3] = (5.0, -3.0)
    out = bev_channels(sem, flow, np.zeros((20, 20), np.uint8), np.zeros((0, 2)), GRID, LABELS, pool=1)
    assert np.argwhere(out[0]).tolist() == [[15, 9]] and np.argwhere(out[1]).tolist() == [[5, 10]]
    assert not out[2].any() and not out[3].any() and not out[4].any()
    assert out[5, 15, 9] == 128 + round(127 * 5 / 20) and out[6, 15, 9] == 128 - round(127 * 3 / 20)
    assert (np.delete(out[5].ravel(), 15 * 20 + 9) == 128).all()


def test_bev_observation_spaces_pass_sb3_checks_without_warnings(tiny_dataroot):
    sb3_check_env = pytest.importorskip("stable_baselines3.common.env_checker").check_env
    base = gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), action_type="control", observation=BEV_INPUTS)
    env = NormalizedAction(BEVObservation(base, pool=4))
    assert env.observation_space["bev"] == spaces.Box(0, 255, (7, 50, 50), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unconventional shape", image-bounds or action-space advice
        sb3_check_env(env)
    check_env(env, skip_render_check=True)  # Gymnasium's checker on the wrapped env (determinism included)
    rebuilt = gym.make(env.spec)  # the wrappers are recorded in the spec (vector envs rebuild from it)
    assert rebuilt.observation_space == env.observation_space and rebuilt.action_space == env.action_space
    obs, _ = env.reset(seed=0)
    ego = env.unwrapped.state.ego
    assert env.observation_space.contains(obs) and obs["ego_state"][0] == np.float32(ego.speed_mps)
    assert obs["bev"][3, 25, 25] == 255  # the ego stands on the drivable area
    with pytest.raises(ValueError, match=r"lacks \['drivable'\]"):
        BEVObservation(gym.make("OccDrive-v0", dataroot=str(tiny_dataroot)))


class _Recorder(gym.Env):
    """Records the action the wrapper hands on."""

    def __init__(self, low, high):
        self.action_space = spaces.Box(np.float32(low), np.float32(high))
        self.observation_space = spaces.Box(0, 1, (1,))
        self.last = None

    def step(self, action):
        self.last = action
        return np.zeros(1, np.float32), 0.0, False, False, {}


def test_normalized_action_maps_minus_one_zero_one_to_low_zero_high():
    inner = _Recorder([-6.0, -0.7, 1.0], [3.0, 0.7, 5.0])
    env = NormalizedAction(inner)
    assert env.action_space == spaces.Box(-1.0, 1.0, (3,), np.float32)
    for a, want in [(-1, [-6.0, -0.7, 1.0]), (0, [0.0, 0.0, 3.0]), (1, [3.0, 0.7, 5.0]), (0.5, [1.5, 0.35, 4.0])]:
        env.step(np.full(3, a, np.float32))
        assert inner.last.dtype == np.float32 and np.allclose(inner.last, want)
    env.step(np.array([-0.5, 2.0, -1.0]))  # beyond [-1, 1]: handed on beyond the Box (the env clips and reports)
    assert np.allclose(inner.last, [-3.0, 1.4, 1.0])
    with pytest.raises(ValidationError, match=r"NormalizedAction: expected an action of shape \(3,\)"):
        env.step(np.zeros(4))


def test_normalized_trajectory_zero_is_standing_still(tiny_dataroot):
    env = NormalizedAction(gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), perception=None, observation=("ego",)))
    assert np.array_equal(env.action(np.zeros((6, 3))), np.zeros((6, 3)))
    assert np.array_equal(env.action(np.ones((6, 3))), env.env.action_space.high)
