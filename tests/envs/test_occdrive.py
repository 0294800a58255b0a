"""OccDrive-v0 through Gymnasium's and Stable-Baselines3's checkers, dataroot resolution at make,
determinism, agreement with the core, vector envs (generated tiny set), and a constant-velocity plan
on a curved real road (real extract)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from occplan.errors import ValidationError
from occplan.interfaces import PerceptionModel, SensorRequest
from occplan.sim import Simulator
from occplan.types import OccupancyPrediction, Trajectory

SETTINGS = [
    {"action_type": "trajectory"},
    {"action_type": "control"},
    {"action_type": "trajectory", "agents": "idm", "observation": ("occupancy", "flow", "ego", "route")},
    {"action_type": "trajectory", "perception": None, "observation": ("ego", "route", "lidar")},
    {"action_type": "control", "mode": "open", "perception": None, "observation": ("ego", "lidar")},
    {"action_type": "control", "observation": ("occupancy", "ego", "route", "lidar", "cameras")},
    {"action_type": "control", "observation": envs.BEV_INPUTS},
]


@pytest.fixture(scope="module")
def kwargs(tiny_dataroot):
    return {"dataroot": str(tiny_dataroot), "version": "v1.0-occplan", "split": "val"}


def test_every_env_is_registered():
    assert set(envs.ENV_IDS) <= set(gym.registry)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_the_default_env_passes_gymnasium_and_sb3_checkers(tiny_dataroot, env_id):
    """Only the dataroot is given: default observation, actions and info (plain values)."""
    sb3_check_env = pytest.importorskip("stable_baselines3.common.env_checker").check_env
    env = gym.make(env_id, dataroot=str(tiny_dataroot))
    check_env(env.unwrapped)
    sb3_check_env(env.unwrapped)
    _, info = env.reset(seed=0)
    assert all(isinstance(v, str | bool | float | dict) for v in info.values())


def test_rich_info_is_a_wrapper_holding_the_core_objects(kwargs):
    plain = gym.make("OccDrive-v0", **kwargs)
    env = envs.RichInfo(gym.make("OccDrive-v0", **kwargs))
    _, bare = plain.reset(seed=0)
    _, info = env.reset(seed=0)
    core = env.unwrapped
    assert {k: info[k] for k in bare} == bare and not {"step_record", "agents", "ground_truth"} & set(bare)
    assert info["step_record"].time_us == core.state.time_us and len(info["agents"]) == len(core.state.agents)
    assert info["ground_truth"] is core.sim.ground_truth(core.state, with_masks=False)


def test_the_dataroot_version_is_resolved_at_make(tiny_dataroot, tmp_path):
    """No version: the dataroot's only v1.0-* folder (the rule of occplan.data.dataroot); a folder that
    is not a dataroot, or a version it lacks, fails at make, not at reset."""
    env = gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), perception=None, observation=("ego",))
    assert env.unwrapped.source.version == "v1.0-occplan"
    _, info = env.reset(seed=0)
    assert info["scenario"] in env.unwrapped.source.names()
    with pytest.raises(ValidationError, match="not a nuScenes dataroot"):
        gym.make("OccDrive-v0", dataroot=str(tmp_path))
    with pytest.raises(ValidationError, match="no table version 'v1.0-mini'"):
        gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), version="v1.0-mini")


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_check_env_passes(kwargs, env_id, setting):
    env = gym.make(env_id, **kwargs, **setting, render_mode="rgb_array")
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.render().shape == (400, 400, 3)


def test_env_and_core_produce_the_same_trajectory(kwargs):
    wrapped = envs.RichInfo(gym.make("OccDrive-v0", **kwargs))
    env = wrapped.unwrapped
    wrapped.reset(seed=7)
    sim = Simulator(env.sim.config)
    name = env.state.context.scenario.name
    loaded = env.source.load(name)
    state = sim.reset(loaded.scenario, env.state.context.seed, world=loaded.world, source=loaded.source)
    rng = np.random.default_rng(0)
    for _ in range(6):
        plan = sim.log_future(state)
        plan = Trajectory(plan.poses + rng.normal(0, 0.2, plan.poses.shape), plan.sampling)  # off the log
        state = sim.step(state, plan)
        _, _, _, _, info = wrapped.step(plan.poses.astype(np.float32))
        core, gym_ego = state.ego, env.state.ego
        assert np.allclose([core.x_m, core.y_m, core.yaw_rad], [gym_ego.x_m, gym_ego.y_m, gym_ego.yaw_rad], atol=1e-4)
    assert info["step_record"].time_us == state.time_us and "progress" in info["reward_terms"]
    assert info["ground_truth"].semantics.shape == (200, 200, 16) and info["ground_truth"].mask_lidar is None


def test_logged_future_as_action_stays_within_half_a_metre_over_the_scene(kwargs):
    env = gym.make("OccDrive-v0", **kwargs, perception=None, observation=("ego", "route")).unwrapped
    env.reset(seed=0)
    worst, done = 0.0, False
    while not done:
        plan = env.sim.log_future(env.state)
        _, _, term, trunc, info = env.step(plan.poses.astype(np.float32))
        worst, done = max(worst, info["pose_deviation_m"]), term or trunc
    assert trunc and not term and worst < 0.5


def test_reset_with_the_same_seed_is_deterministic(kwargs):
    env = gym.make("OccDrive-v0", **kwargs, agents="idm")
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    action = env.action_space.sample()
    env.reset(seed=1)
    first = env.step(action)[0]
    env.reset(seed=1)
    second = env.step(action)[0]
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_async_vector_env_with_the_default_context(kwargs):
    from occplan.types import GridSpec
    from occplan.world.voxel_traversal import mark_segments

    # a parallel numba kernel runs in this process before the workers fork (the case that used to crash)
    mark_segments(np.zeros((1, 3)), np.ones((8, 3)), GridSpec.occ3d_nuscenes())
    vec = gym.make_vec("OccDrive-v0", num_envs=2, vectorization_mode="async", **kwargs)
    obs, _ = vec.reset(seed=0)
    assert obs["occupancy"].shape == (2, 200, 200, 16)
    obs, reward, *_ = vec.step(vec.action_space.sample())
    assert reward.shape == (2,)
    vec.close()


def test_constant_velocity_on_a_curved_road_leaves_it(real_mini):
    """scene-0523 bends left then right: a straight plan at the initial speed goes off-road."""
    env = gym.make(
        "OccDrive-v0", dataroot=str(real_mini), version="v1.0-mini", split=None, scenes=("scene-0523",),
        perception=None, observation=("ego", "route"),
    )  # fmt: skip
    obs, _ = env.reset(seed=0)
    straight = Trajectory.from_xy(np.column_stack([np.arange(1, 7) * 0.5 * obs["ego_state"][0], np.zeros(6)]))
    fired, term = set(), False
    while not term:
        _, _, term, trunc, info = env.step(straight.poses.astype(np.float32))
        fired |= {k for k in ("offroad", "collision") if info["reward_terms"][k] < 0}
        assert not trunc, "the straight plan should leave the road before the log ends"
    assert fired and (info["offroad"] or info["collided"])


class _SweepModel(PerceptionModel):
    """A model asking for 3 LiDAR sweeps; predicts all free and keeps the frames it was given."""

    name = "three_sweeps"

    def __init__(self):
        super().__init__()
        self.frames = []

    def sensor_request(self):
        return SensorRequest(lidar_sweeps=3)

    def _predict(self, frame):
        self.frames.append(frame)
        return OccupancyPrediction(np.full(self.grid.shape, 17, np.uint8), self.grid, self.labels)


def test_one_lidar_cast_serves_the_model_and_the_observation(kwargs, monkeypatch):
    """A model from the registry asking for 3 sweeps and the LiDAR observation: 3 scans per step, not 4."""
    import models

    model = _SweepModel()
    monkeypatch.setitem(models.MODELS._factories, "three_sweeps", lambda: model)
    env = gym.make("OccDrive-v0", **kwargs, perception="three_sweeps", observation=("occupancy", "lidar")).unwrapped
    obs, _ = env.reset(seed=0)
    world = env.state.context.world
    scans = []
    lidar_scan = world.lidar_scan
    monkeypatch.setattr(world, "lidar_scan", lambda *a: scans.append(a[1]) or lidar_scan(*a))
    obs, *_ = env.step(env.sim.log_future(env.state).poses.astype(np.float32))
    assert len(scans) == 3 and len(set(scans)) == 3 and len(model.frames) == 2
    lidar = model.frames[-1].lidar
    assert len(lidar.origins_m) == 3 and (lidar.sweep_index > 0).any()
    keyframe = lidar.points[lidar.sweep_index == 0]
    assert obs["lidar_count"] == len(keyframe) and np.array_equal(obs["lidar_points"][: len(keyframe)], keyframe)


def test_model_options_reach_the_model_and_bad_ones_are_refused_at_make(tiny_dataroot):
    import torch

    weights = Path(__file__).resolve().parents[2] / "models" / "weights" / "lidar_tiny.safetensors"
    make = dict(dataroot=str(tiny_dataroot), perception="lidar", observation=("occupancy", "ego"))
    env = gym.make("OccDrive-v0", **make, model_options={"weights": "random"})
    shipped = gym.make("OccDrive-v0", **make, model_options={"weights": str(weights)})
    default = gym.make("OccDrive-v0", **make)

    def first_weight(e) -> torch.Tensor:
        return next(e.unwrapped._model.net.parameters()).detach()

    assert torch.equal(first_weight(shipped), first_weight(default))
    assert not torch.equal(first_weight(env), first_weight(default))
    with pytest.raises(ValidationError, match="valid: config, weights, device"):
        gym.make("OccDrive-v0", **make, model_options={"speed": 3})
    with pytest.raises(ValidationError, match="model 'oracle' takes no option"):
        gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), model_options={"weights": "random"})
    with pytest.raises(ValueError, match="need a model name"):
        gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), perception=None, model_options={"weights": "random"})


def test_perception_names_a_registered_model(tiny_dataroot):
    """The oracle is the registry's model like any other; an unknown name lists the registered ones."""
    import models
    from occplan.errors import RegistryError

    env = gym.make("OccDrive-v0", dataroot=str(tiny_dataroot)).unwrapped
    assert type(env._model) is models.model_class("oracle") and env._model.privileged
    with pytest.raises(RegistryError, match="unknown perception model 'nope'; known: .*oracle"):
        gym.make("OccDrive-v0", dataroot=str(tiny_dataroot), perception="nope")
