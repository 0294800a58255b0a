"""The simulator on generated worlds (tiny set): log replay, LiDAR re-simulation, occupancy checks,
agent tables against the world's own sampling."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.interfaces import SensorRequest
from occplan.sim import Control, SimConfig, Simulator
from occplan.sim.agent_table import AgentTable
from occplan.sim.simulator import scene_arrays, swept_grid
from occplan.world import World


@pytest.fixture(scope="module")
def loaded(tiny_scenes):
    return tiny_scenes.load("scene-0001")


def _run(sim: Simulator, loaded, seed: int = 0):
    state = sim.reset(loaded.scenario, seed, world=loaded.world, source=loaded.source)
    worst = 0.0
    while not sim.done(state):
        state = sim.step(state, sim.log_future(state))
        worst = max(worst, sim.pose_deviation_m(state))
    return state, worst


@pytest.mark.parametrize("mode", ["open", "closed"])
@pytest.mark.parametrize("agents", ["replay", "idm"])
def test_log_replay_never_collides_nor_leaves_the_road(tiny_scenes, mode, agents):
    sim = Simulator(SimConfig(mode=mode, agents=agents))
    for name in tiny_scenes.names():
        state, worst = _run(sim, tiny_scenes.load(name))
        assert state.decision == state.context.num_decisions == 12
        assert not state.collided and not state.offroad
        assert not any(r.occ_collision for r in state.records)
        assert worst < (1e-9 if mode == "open" else 0.5)


def test_records_cover_every_substep_with_plans_at_decisions(loaded):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state, _ = _run(sim, loaded)
    records = state.records
    times = np.array([r.time_us for r in records])
    assert len(records) == 1 + 12 * 5 and np.all(np.diff(times) == 100_000)
    assert [i for i, r in enumerate(records) if r.plan is not None] == list(range(0, 60, 5))
    assert state.last_record == records[-1]
    assert all(r.log_ego is not None for r in records)
    history = sim.episode_history(state)
    assert history.num_steps == len(records) and history.mode == "closed"
    np.testing.assert_allclose(history.time_s, (times - times[0]) * 1e-6)
    rear = np.array([[r.ego.x_m, r.ego.y_m] for r in records])
    heading = np.column_stack([np.cos(history.ego_center[:, 2]), np.sin(history.ego_center[:, 2])])
    np.testing.assert_allclose(history.ego_center[:, :2] - rear, sim.config.vehicle.rear_axle_to_center_m * heading)
    present = np.isfinite(history.agent_boxes[..., 0])
    assert [int(n) for n in present.sum(axis=1)] == [len(r.agents) for r in records]


def test_lidar_resimulated_at_the_logged_pose_equals_the_written_sweep(loaded):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    frame = loaded.scenario.frames[0]
    written = np.fromfile(frame.lidar_path, np.float32).reshape(-1, 5)
    scan = loaded.world.lidar_scan(state.world_from_ego, state.time_us)
    assert np.array_equal(scan.points_sensor, written)  # bit for bit
    observed = sim.observe(state, SensorRequest(lidar_sweeps=1))
    assert np.array_equal(observed.lidar.points, loaded.source.lidar(frame).points)


def test_cameras_are_rendered_at_the_logged_resolution(loaded):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    frame = sim.observe(state, SensorRequest(("CAM_FRONT", "CAM_BACK")))
    for cam in frame.cameras:
        assert cam.image.shape == (cam.height_px, cam.width_px, 3) == (180, 320, 3)


def test_cameras_are_rendered_at_the_requested_size_with_scaled_intrinsics(loaded):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    logged = {c.channel: c for c in loaded.scenario.frames[0].cameras}
    frame = sim.observe(state, SensorRequest(("CAM_FRONT", "CAM_BACK"), camera_wh_px=(160, 96)))
    for cam in frame.cameras:
        assert cam.image.shape == (96, 160, 3) and (cam.width_px, cam.height_px) == (160, 96)
        np.testing.assert_allclose(cam.intrinsics, np.diag([0.5, 96 / 180, 1.0]) @ logged[cam.channel].intrinsics)
        # the world renders with the rig's intrinsics at that size: the same pinhole as the frame states
        np.testing.assert_allclose(cam.intrinsics, loaded.world.rig.intrinsics(cam.channel, 160, 96), rtol=1e-6)
        rgb, _ = loaded.world.render_cameras(state.world_from_ego, state.time_us, [cam.channel], width=160, height=96)[
            cam.channel
        ]
        np.testing.assert_array_equal(cam.image, rgb)
    full = sim.observe(state, SensorRequest(("CAM_FRONT",)))  # another size: rendered anew, logged size
    assert full.cameras[0].image.shape == (180, 320, 3)


def test_sensor_request_rejects_a_bad_camera_size():
    with pytest.raises(ValidationError, match="camera_wh_px"):
        SensorRequest(("CAM_FRONT",), camera_wh_px=(0, 90))


class _BoxesOnly(World):
    """A World exposing only ``agent_boxes`` (no tracks): the generic AgentTable path."""

    def __init__(self, world: World) -> None:
        self.world = world

    @property
    def agent_ids(self):
        return self.world.agent_ids

    def agent_boxes(self, time_us):
        return self.world.agent_boxes(time_us)

    def cast_rays(self, *args, **kwargs):
        raise NotImplementedError

    def lidar_scan(self, *args, **kwargs):
        raise NotImplementedError

    def occupancy(self, *args, **kwargs):
        raise NotImplementedError


def test_agent_table_agrees_with_the_worlds_own_sampling(loaded):
    world = loaded.world
    table = scene_arrays(loaded.scenario, world, SimConfig()).table
    rows = np.array([0, 7, 33, len(table.times_us) - 1])
    generic = AgentTable.from_world(_BoxesOnly(world), table.times_us[rows])
    for n, row in enumerate(rows):
        want = {b.instance: b for b in world.agent_boxes(int(table.times_us[row]))}
        for got in ({b.instance: b for b in table.boxes(row)}, {b.instance: b for b in generic.boxes(n)}):
            assert got.keys() == want.keys()
            for k, b in want.items():
                assert np.allclose(got[k].center_m, b.center_m) and np.isclose(got[k].yaw_rad, b.yaw_rad)
                assert np.allclose(got[k].velocity_mps, b.velocity_mps) and got[k].attributes == b.attributes


def test_occupancy_collision_block_matches_the_full_grid(loaded):
    """The collision query (a block of the Occ3D lattice around the swept ego boxes) sees the same
    static voxels as the full grid."""
    sim = Simulator(SimConfig())
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    state = sim.step(state, sim.log_future(state))
    world, grid = loaded.world, sim.config.grid
    block_grid = swept_grid(grid, np.array([-1.7, -2.3]), np.array([9.1, 1.1]), 3.0)
    assert block_grid.shape == (27, 9, 10)
    full = world.occupancy(state.world_from_ego, state.time_us, grid, agents=(), with_masks=False).semantics
    block = world.occupancy(state.world_from_ego, state.time_us, block_grid, agents=(), with_masks=False).semantics
    i0 = np.round((np.array(block_grid.range_min_m) - grid.range_min_m) / grid.voxel_size_m).astype(int)
    assert np.array_equal(block, full[i0[0] :, i0[1] :, i0[2] :][: block.shape[0], : block.shape[1], : block.shape[2]])
    assert np.any(block != 17)  # the road under the ego


def test_hard_steering_leaves_the_road_and_latches_offroad(loaded):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    for _ in range(8):
        state = sim.step_control(state, Control(1.0, 0.5))
    assert state.offroad and sim.pose_deviation_m(state) > 3.0


def test_ground_truth_is_cached_and_masks_on_request(loaded):
    sim = Simulator(SimConfig(occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    fast = sim.ground_truth(state, with_masks=False)
    assert fast.mask_lidar is None and sim.ground_truth(state, with_masks=False) is fast
    full = sim.ground_truth(state)
    assert full.mask_lidar is not None and np.array_equal(full.semantics, fast.semantics)
    assert sim.ground_truth(state, with_masks=False) is full
