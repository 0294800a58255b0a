"""The simulator's fast paths give the states of the plain paths they replace."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.sim import Control, SimConfig, Simulator
from occplan.sim.route import RoutePolyline
from occplan.sim.simulator import swept_grid
from occplan.types import Pose
from occplan.world import World


class _EveryClass:
    """A world wrapper without the static-class pre-test: every collision query is voxelised."""

    def __init__(self, world) -> None:
        self.world = world

    def __getattr__(self, name):
        return getattr(self.world, name)

    static_classes_within = World.static_classes_within


def _episode(sim, scenario, world, control):
    state = sim.reset(scenario, 0, world=world)
    states = [state]
    while not sim.done(state) and not state.collided:
        state = sim.step_control(state, control) if control else sim.step(state, sim.log_future(state))
        states.append(state)
    return states


@pytest.mark.parametrize(
    ("scene", "control"),
    [("scene-0000", None), ("scene-0000", Control(1.0, -0.4)), ("scene-0000", Control(2.0, -0.1)),
     ("scene-0001", Control(1.0, 0.4)), ("scene-0001", Control(3.0, 0.2))],
)  # fmt: skip
def test_static_class_pretest_keeps_every_contact(tiny_scenes, scene, control):
    """Skipping the voxelisation where only ground-class faces lie near the swept boxes changes no
    contact: the same states, collisions and contact columns as voxelising every query."""
    loaded = tiny_scenes.load(scene)
    sim = Simulator(SimConfig())
    fast = _episode(sim, loaded.scenario, loaded.world, control)
    plain = _episode(sim, loaded.scenario, _EveryClass(loaded.world), control)
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain, strict=True):
        assert a.collided == b.collided and np.array_equal(a.trace.ego, b.trace.ego)
        assert len(a.trace.occ_contacts) == len(b.trace.occ_contacts)
        for (i, xy), (j, xy_b) in zip(a.trace.occ_contacts, b.trace.occ_contacts, strict=True):
            assert i == j and np.array_equal(xy, xy_b)
    if control is not None:
        assert fast[-1].trace.occ_contacts  # the episode ends on a static contact


def _plain_project(line: RoutePolyline, xy_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every point against every segment with numpy (the nearest; the first segment on ties)."""
    a, d = line.xy_m[:-1], np.diff(line.xy_m, axis=0)
    seg2 = np.maximum(np.einsum("ij,ij->i", d, d), 1e-12)
    rel = xy_m[:, None, :] - a[None]
    u = np.clip(np.einsum("nkj,kj->nk", rel, d) / seg2, 0.0, 1.0)
    dist2 = np.sum((rel - u[..., None] * d[None]) ** 2, axis=-1)
    k = np.argmin(dist2, axis=1)
    n = np.arange(len(xy_m))
    return line.arc_m[k] + u[n, k] * np.sqrt(seg2[k]), np.sqrt(dist2[n, k])


def test_route_projection_and_samples_ahead_equal_the_plain_numpy_path():
    rng = np.random.default_rng(0)
    for _ in range(100):
        knots = np.cumsum(rng.normal(size=(rng.integers(2, 40), 2)) * rng.uniform(0.1, 10), axis=0)
        line = RoutePolyline.from_points(knots + rng.uniform(-3000, 3000, 2), rng.uniform(0.3, 2.0))
        points = np.vstack([line.xy_m[0] + rng.normal(scale=30, size=(20, 2)), line.xy_m[:3]])  # and on knots
        got, want = line.project(points), _plain_project(line, points)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        pose = Pose.from_xy_yaw(*points[0], rng.uniform(-3, 3))
        n, spacing = int(rng.integers(1, 30)), rng.uniform(0.5, 3.0)
        s = np.minimum(_plain_project(line, points[:1])[0][0] + np.arange(n) * spacing, line.arc_m[-1])
        world = np.column_stack([np.interp(s, line.arc_m, line.xy_m[:, 0]), np.interp(s, line.arc_m, line.xy_m[:, 1])])
        want_ahead = (world - pose.translation_m[:2]) @ pose.rotation[:2, :2]
        assert np.array_equal(line.ahead(pose, n, spacing), want_ahead)


def test_swept_grid_holds_the_voxel_columns_whose_centres_lie_in_the_box():
    grid = SimConfig().grid
    rng = np.random.default_rng(1)
    for _ in range(200):
        lo = rng.uniform(-30, 30, 2)
        hi = lo + rng.uniform(0.5, 15, 2)
        block = swept_grid(grid, lo, hi, 3.0)
        v = grid.voxel_size_m
        first = np.array(block.range_min_m[:2]) + v / 2  # centre of the first column
        last = first + v * (np.array(block.shape[:2]) - 1)
        assert np.all(first >= lo - 1e-6) and np.all(last <= hi + 1e-6)
        assert np.all(first - v < lo) and np.all(last + v > hi)  # the next columns out lie outside
        assert block.range_min_m[2] == grid.range_min_m[2] and block.shape[2] == 10  # up to 3 m
        offset = (np.array(block.range_min_m) - grid.range_min_m) / grid.voxel_size_m
        assert np.allclose(offset, np.round(offset))  # the same lattice
