"""``OccDrive-v0``: a thin Gymnasium adapter over the stateless ``occplan.sim.Simulator``.

One env step = one 0.5 s decision. Actions: "trajectory" = 6 x (x, y, yaw) waypoints in the ego
frame (0.5 s apart), or "control" = (acceleration m/s^2, steering rate rad/s) held for the decision.
Observation (a Dict of fixed shapes), by the names in ``observation``:

- "occupancy": ``occupancy`` (X, Y, Z) uint8 Occ3D labels (17 = free) from ``perception``;
- "flow": ``flow`` (X, Y, Z, 2) float32 m/s, ego frame, clipped to +-``FLOW_LIMIT_MPS`` (occupancy and
  flow are the perception output's arrays, shared with ``info["ground_truth"]`` under oracle
  perception: copy before modifying them);
- "ego": ``ego_state`` (4,) float32 (speed m/s, accel m/s^2, yaw rate rad/s, steer rad) and
  ``ego_history`` (H, 3) float32 past decision poses (x, y, yaw) in the ego frame, oldest first;
- "route": ``route`` (K, 2) float32 route ahead in the ego frame and ``command`` (0 right, 1 left, 2 straight);
- "lidar": ``lidar_points`` (max_lidar_points, 5) float32 ego frame (x y z intensity ring), zero
  padded, and ``lidar_count`` the number of valid rows;
- "cameras": ``cameras`` (6, H, W, 3) uint8 in ``CAMERA_CHANNELS`` order, resized.

Reward = sum of the named terms in ``info["reward_terms"]`` (progress, collision, off-road, comfort).
Terminated on collision or off-road; truncated at the end of the log. ``info`` carries the pose
deviation from the log and, with ``rich_info`` (default), the GT ``OccupancyFrame`` (when computed),
the world-frame agent boxes and the last ``StepRecord`` (objects holding arrays, which Gymnasium's
``check_env`` cannot compare with ``==``: it runs with ``rich_info=False``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from PIL import Image

from envs.render import bev_image
from envs.scenarios import DatasetScenarios, ScenarioSource
from occplan.interfaces import SensorRequest
from occplan.sim import Control, SimConfig, SimState, Simulator
from occplan.sim.reward import reward_terms
from occplan.types import CAMERA_CHANNELS, OccupancyPrediction, Trajectory, se2_transform

OBSERVATIONS = ("occupancy", "flow", "ego", "route", "lidar", "cameras")
ACTION_TYPES = ("trajectory", "control")
FLOW_LIMIT_MPS = 100.0
STATE_LIMIT = 1e4


class OccDriveEnv(gym.Env):
    """Closed- or open-loop driving on nuScenes-format scenarios (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        dataroot: str | None = None,
        version: str | None = None,
        split: str | None = "val",
        scenes: Sequence[str] | None = None,
        mode: str = "closed",
        agents: str = "replay",
        perception: str | None = "oracle",
        action_type: str = "trajectory",
        observation: Sequence[str] | None = None,
        max_lidar_points: int = 40_000,
        camera_size_px: tuple[int, int] = (160, 90),
        sim_config: SimConfig | None = None,
        scenario_source: ScenarioSource | None = None,
        rich_info: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if action_type not in ACTION_TYPES:
            raise ValueError(f"OccDrive-v0: action_type must be one of {ACTION_TYPES}, got {action_type!r}")
        if observation is None:
            observation = ("occupancy", "flow", "ego", "route") if perception else ("ego", "route", "lidar")
        unknown = [o for o in observation if o not in OBSERVATIONS]
        if unknown:
            raise ValueError(f"OccDrive-v0: unknown observation {unknown}; valid: {OBSERVATIONS}")
        if perception is None and ({"occupancy", "flow"} & set(observation)):
            raise ValueError("OccDrive-v0: observation 'occupancy'/'flow' needs perception ('oracle' or a model name)")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"OccDrive-v0: render_mode must be None or 'rgb_array', got {render_mode!r}")
        base = sim_config or SimConfig()
        self.sim = Simulator(replace(base, mode=mode, agents=agents))
        self.source = scenario_source or DatasetScenarios(dataroot, version, split, tuple(scenes) if scenes else None)
        self.perception = perception
        self.action_type = action_type
        self.observation_names = tuple(observation)
        self.max_lidar_points = int(max_lidar_points)
        self.camera_size_px = tuple(camera_size_px)
        self.render_mode = render_mode
        self.rich_info = rich_info
        self._model = None
        if perception not in (None, "oracle"):
            import models

            self._model = models.create(perception)
        self.observation_space = self._observation_space()
        self.action_space = self._action_space()
        self.state: SimState | None = None
        self._last_plan: np.ndarray | None = None
        self._occupancy: OccupancyPrediction | None = None

    # --- spaces --------------------------------------------------------------------------
    def _observation_space(self) -> spaces.Dict:
        cfg = self.sim.config
        shape = cfg.grid.shape
        out: dict[str, spaces.Space] = {}
        if "occupancy" in self.observation_names:
            out["occupancy"] = spaces.Box(0, 17, shape, np.uint8)
        if "flow" in self.observation_names:
            out["flow"] = spaces.Box(-FLOW_LIMIT_MPS, FLOW_LIMIT_MPS, (*shape, 2), np.float32)
        if "ego" in self.observation_names:
            out["ego_state"] = spaces.Box(-STATE_LIMIT, STATE_LIMIT, (4,), np.float32)
            out["ego_history"] = spaces.Box(-STATE_LIMIT, STATE_LIMIT, (cfg.history_len, 3), np.float32)
        if "route" in self.observation_names:
            out["route"] = spaces.Box(-STATE_LIMIT, STATE_LIMIT, (cfg.route_points, 2), np.float32)
            out["command"] = spaces.Discrete(3)
        if "lidar" in self.observation_names:
            out["lidar_points"] = spaces.Box(-STATE_LIMIT, STATE_LIMIT, (self.max_lidar_points, 5), np.float32)
            out["lidar_count"] = spaces.Box(0, self.max_lidar_points, (), np.int64)
        if "cameras" in self.observation_names:
            w, h = self.camera_size_px
            out["cameras"] = spaces.Box(0, 255, (len(CAMERA_CHANNELS), h, w, 3), np.uint8)
        return spaces.Dict(out)

    def _action_space(self) -> spaces.Box:
        v = self.sim.config.vehicle
        if self.action_type == "control":
            rate = self.sim.config.tracker.max_steer_rate_radps
            return spaces.Box(
                np.array([-v.max_decel_mps2, -rate], np.float32), np.array([v.max_accel_mps2, rate], np.float32)
            )
        n = self.sim.sampling.num_poses
        low = np.tile(np.array([-20.0, -40.0, -np.pi], np.float32), (n, 1))
        high = np.tile(np.array([80.0, 40.0, np.pi], np.float32), (n, 1))
        return spaces.Box(low, high, dtype=np.float32)

    # --- gym API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Pick a scenario (``options["scene"]`` or drawn with the env's seeded RNG) and start it."""
        super().reset(seed=seed)
        names = self.source.names()
        if not names:
            raise ValueError("OccDrive-v0: the scenario source has no scenes")
        name = (options or {}).get("scene") or names[int(self.np_random.integers(len(names)))]
        loaded = self.source.load(name)
        sim_seed = int(self.np_random.integers(2**31 - 1))
        if self._model is not None:
            self._model.reset(loaded.scenario)
        self.state = self.sim.reset(loaded.scenario, sim_seed, world=loaded.world, source=loaded.source)
        self._last_plan = None
        obs = self._observe()
        return obs, self._info({})

    def step(self, action):
        if self.state is None:
            raise RuntimeError("OccDrive-v0: call reset() before step()")
        prev = self.state
        a = np.asarray(action, dtype=np.float64)
        if self.action_type == "trajectory":
            plan = Trajectory(a.reshape(self.sim.sampling.num_poses, 3).copy(), self.sim.sampling)
            self.state = self.sim.step(prev, plan)
            self._last_plan = plan.xy_m
        else:
            self.state = self.sim.step_control(prev, Control(float(a[0]), float(a[1])))
            self._last_plan = None
        terms = reward_terms(prev, self.state, self.sim.config.reward)
        terminated = self.state.collided or self.state.offroad
        truncated = self.sim.done(self.state) and not terminated
        obs = self._observe()
        return obs, float(sum(terms.values())), bool(terminated), bool(truncated), self._info(terms)

    def render(self):
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        occ = self._occupancy
        cfg = self.sim.config
        return bev_image(
            occ.semantics if occ is not None else None, cfg.grid, self.state.agents, self.state.world_from_ego,
            self._last_plan, cfg.vehicle,
        )  # fmt: skip

    # --- internals -----------------------------------------------------------------------
    def _perceive(self) -> OccupancyPrediction | None:
        state = self.state
        if self.perception is None:
            return None
        if self.perception == "oracle":
            gt = self.sim.ground_truth(state, with_masks=False)
            return OccupancyPrediction(gt.semantics, gt.grid, gt.labels, gt.flow)
        frame = self.sim.observe(state, self._model.sensor_request(), privileged=self._model.privileged)
        return self._model.predict(frame)

    def _observe(self) -> dict[str, Any]:
        state, cfg = self.state, self.sim.config
        self._occupancy = occ = self._perceive()
        obs: dict[str, Any] = {}
        if "occupancy" in self.observation_names:
            obs["occupancy"] = occ.semantics
        if "flow" in self.observation_names:
            flow = occ.flow if occ.flow is not None else np.zeros((*cfg.grid.shape, 2), np.float32)
            within = flow.size and -FLOW_LIMIT_MPS <= flow.min() and flow.max() <= FLOW_LIMIT_MPS
            obs["flow"] = flow if within else np.clip(flow, -FLOW_LIMIT_MPS, FLOW_LIMIT_MPS, dtype=np.float32)
        if "ego" in self.observation_names:
            e = state.ego
            obs["ego_state"] = np.array([e.speed_mps, e.accel_mps2, e.yaw_rate_radps, e.steer_rad], np.float32)
            obs["ego_history"] = np.clip(self._history(state), -STATE_LIMIT, STATE_LIMIT).astype(np.float32)
        if "route" in self.observation_names:
            route = state.context.route.ahead(state.world_from_ego, cfg.route_points, cfg.route_spacing_m)
            obs["route"] = np.clip(route, -STATE_LIMIT, STATE_LIMIT).astype(np.float32)
            obs["command"] = int(self.sim.keyframe(state).command)
        if "lidar" in self.observation_names or "cameras" in self.observation_names:
            want_cams = CAMERA_CHANNELS if "cameras" in self.observation_names else ()
            frame = self.sim.observe(state, SensorRequest(want_cams, int("lidar" in self.observation_names)))
            if frame.lidar is not None:
                pts = frame.lidar.points[: self.max_lidar_points]
                padded = np.zeros((self.max_lidar_points, 5), np.float32)
                padded[: len(pts)] = np.clip(pts, -STATE_LIMIT, STATE_LIMIT)
                obs["lidar_points"], obs["lidar_count"] = padded, np.asarray(len(pts), np.int64)
            if want_cams:
                w, h = self.camera_size_px
                obs["cameras"] = np.stack([np.asarray(Image.fromarray(c.load()).resize((w, h))) for c in frame.cameras])
        return obs

    def _history(self, state: SimState) -> np.ndarray:
        return se2_transform(state.history, state.world_from_ego.inverse())

    def _info(self, terms: dict[str, float]) -> dict[str, Any]:
        state = self.state
        info = {
            "scenario": state.context.scenario.name,
            "reward_terms": terms,
            "pose_deviation_m": self.sim.pose_deviation_m(state),
            "collided": state.collided,
            "offroad": state.offroad,
        }
        if self.rich_info:
            gt = state.memo.get("gt")
            info |= {"step_record": state.last_record, "agents": state.agents, "ground_truth": gt}
        return info
