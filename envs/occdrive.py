"""``OccDrive-v0``: a thin Gymnasium adapter over the stateless ``occplan.sim.Simulator``.

One env step = one 0.5 s decision. Actions (``action_type``):

- "trajectory": (6, 3) float32, 6 waypoints (x m, y m, yaw rad) in the ego frame, 0.5 s apart;
  Box x in [-20, 80], y in [-40, 40], yaw in [-pi, pi];
- "control": (2,) float32 (acceleration m/s^2, steering rate rad/s) held for the decision; Box = the
  vehicle's deceleration / acceleration limits and the tracker's steering-rate limit.

An action must have exactly the Box's shape (no reshaping) and finite values, else ``step`` raises a
``ValidationError`` naming the action. Out-of-range values are clipped to the Box, for both action
types, and ``info["action_clipped"]`` says so. ``step`` after ``terminated`` or ``truncated`` (or before
``reset``) raises ``gymnasium.error.ResetNeeded``.

Observation (a Dict of fixed shapes), by the names in ``observation``:

- "occupancy": ``occupancy`` (X, Y, Z) uint8 Occ3D labels (17 = free) from ``perception``, a model of the
  registry ``models.MODELS`` ("oracle": the ground truth at the simulated pose);
- "flow": ``flow`` (X, Y, Z, 2) float32 m/s, ego frame, clipped to +-``FLOW_LIMIT_MPS`` (occupancy and
  flow are the perception output's arrays: copy before modifying them);
- "ego": ``ego_state`` (4,) float32 (speed m/s, accel m/s^2, yaw rate rad/s, steer rad) and
  ``ego_history`` (H, 3) float32 past decision poses (x, y, yaw) in the ego frame, oldest first;
- "route": ``route`` (K, 2) float32 the map route's centreline ahead in the ego frame, zero rows past
  ``route_count`` (0 where the map gives no route), and ``command`` (0 right, 1 left, 2 straight);
- "drivable": ``drivable`` (X, Y) uint8, 1 where the map's drivable area covers the grid cell's centre
  (all 0 without a map);

(ego history, route, command and drivable raster are the ``Simulator``'s, the values of a planner's
``Simulator.planner_input``);
- "lidar": ``lidar_points`` (max_lidar_points, 5) float32 ego frame (x y z intensity ring) of the
  keyframe sweep, zero padded, and ``lidar_count`` the number of valid rows;
- "cameras": ``cameras`` (6, H, W, 3) uint8 in ``CAMERA_CHANNELS`` order, resized; in closed loop rendered
  at the simulated pose on a generated world, the logged images (taken at the logged pose) on a real log,
  whose world cannot render (``World.renders_cameras``), for the perception model's input as well.

The sensors come from ``Simulator.observe``, which produces each sensor once per step: the perception
model's input and the sensor observations share one LiDAR cast and one rendering per camera.

Optional features are wrappers: ``envs.BEVObservation`` turns the observation into a channel-first
uint8 bird's-eye-view image, ``envs.NormalizedAction`` maps [-1, 1] onto the action Box (docs/RL.md),
``envs.RichInfo`` adds the simulator's objects to ``info``.

Reward = sum of the named terms in ``info["reward_terms"]`` (progress, collision, off-road, comfort).
Terminated on collision or off-road; truncated at the end of the log. ``info`` holds plain values
(scenario name, reward terms, pose deviation from the log, collided, offroad, action_clipped), so
Gymnasium's and Stable-Baselines3's ``check_env`` compare it. The simulator's objects are at hand
through ``env.unwrapped`` (``state.agents``, ``state.last_record``, ``sim.ground_truth(state)``) and in
``info`` with the ``envs.RichInfo`` wrapper.

``model_options`` reach the ``perception`` model as the CLI's ``--weights`` / ``--model-config`` do
(``{"weights": PATH, "config": NAME}``), checked at ``make()`` (an option the model does not take is an error
listing the valid ones).

``sensor_threads=2`` computes the GT occupancy of a privileged model (the oracle) in a second thread while
the LiDAR (or the cameras) are re-cast: the same observations, a shorter wall time per step on a free second
core, the same CPU time (keep the default 1 when several envs share the cores, e.g. in a vector env).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from PIL import Image

import models
from envs.scenarios import DatasetScenarios, ScenarioSource
from occplan.errors import ValidationError
from occplan.interfaces import PerceptionModel, SensorRequest
from occplan.sim import Control, SimConfig, SimState, Simulator
from occplan.sim.reward import reward_terms
from occplan.types import CAMERA_CHANNELS, OccupancyPrediction, SensorFrame, Trajectory
from occplan.viz.bev import decision_image

OBSERVATIONS = ("occupancy", "flow", "ego", "route", "drivable", "lidar", "cameras")
ACTION_TYPES = ("trajectory", "control")
FLOW_LIMIT_MPS = 100.0
STATE_LIMIT = 1e4
TRAJECTORY_LOW = (-20.0, -40.0, -np.pi)
"""Lower bound of one trajectory waypoint (x m, y m, yaw rad) in the action Box."""
TRAJECTORY_HIGH = (80.0, 40.0, np.pi)
"""Upper bound of one trajectory waypoint (x m, y m, yaw rad) in the action Box."""


class OccDriveEnv(gym.Env):
    """Closed- or open-loop driving on nuScenes-format scenarios (see the module docstring).

    ``dataroot`` / ``version`` follow ``occplan.data.dataroot.resolve_dataroot`` (checked here, at
    ``make``); without a dataroot the generated "mini" set is used (built on first ``reset``).
    """

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
        model_options: Mapping[str, Any] | None = None,
        action_type: str = "trajectory",
        observation: Sequence[str] | None = None,
        max_lidar_points: int = 40_000,
        camera_size_px: tuple[int, int] = (160, 90),
        sim_config: SimConfig | None = None,
        scenario_source: ScenarioSource | None = None,
        render_mode: str | None = None,
        sensor_threads: int = 1,
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
        if perception is None and model_options:
            raise ValueError(f"OccDrive-v0: model_options {dict(model_options)} need a model name as perception")
        if sensor_threads not in (1, 2):
            raise ValueError(f"OccDrive-v0: sensor_threads must be 1 or 2, got {sensor_threads!r}")
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
        self.sensor_threads = sensor_threads
        self._gt_thread: ThreadPoolExecutor | None = None  # started on the first use
        self._model: PerceptionModel | None = None
        if perception is not None:
            options = dict(model_options or {})
            if options:
                models.check_options(perception, options, "OccDrive-v0 model_options")
            self._model = models.MODELS.create(perception, **options)
        self._sensors = self._sensor_request()
        self.observation_space = self._observation_space()
        self.action_space = self._action_space()
        self._action_low = self.action_space.low.astype(np.float64)
        self._action_high = self.action_space.high.astype(np.float64)
        self._zero_flow = np.zeros((*self.sim.config.grid.shape, 2), np.float32)  # for a model without flow
        self._zero_flow.flags.writeable = False
        self.state: SimState | None = None
        self._ended: str | None = None  # "terminated" / "truncated" once the episode is over
        self._occupancy: OccupancyPrediction | None = None  # the last perception output (for render)

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
            out["route_count"] = spaces.Box(0, cfg.route_points, (), np.int64)
            out["command"] = spaces.Discrete(3)
        if "drivable" in self.observation_names:
            out["drivable"] = spaces.Box(0, 1, shape[:2], np.uint8)
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
        low = np.tile(np.array(TRAJECTORY_LOW, np.float32), (n, 1))
        high = np.tile(np.array(TRAJECTORY_HIGH, np.float32), (n, 1))
        return spaces.Box(low, high, dtype=np.float32)

    def _sensor_request(self) -> SensorRequest:
        """The sensors the perception model and the sensor observations read together (asked for first, so
        that the simulator's per-step cache then serves the model's own request)."""
        model = self._model.sensor_request() if self._model is not None else SensorRequest()
        observed = "cameras" in self.observation_names
        want_cams = set(model.cameras) | (set(CAMERA_CHANNELS) if observed else set())
        sweeps = max(model.lidar_sweeps, int("lidar" in self.observation_names))
        # camera observations come at the logged size; without them, render at the model's size
        size = None if observed else model.camera_wh_px
        return SensorRequest(tuple(c for c in CAMERA_CHANNELS if c in want_cams), sweeps, size)

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
            self._model.reset(loaded.scenario.name)
        self.state = self.sim.reset(loaded.scenario, sim_seed, world=loaded.world, source=loaded.source)
        self._ended = None
        obs = self._observe()
        return obs, self._info({}, False)

    def step(self, action):
        if self.state is None or self._ended is not None:
            why = f"the episode is over ({self._ended})" if self._ended else "no episode has started"
            raise ResetNeeded(f"OccDrive-v0: {why}; call reset() before step()")
        a, clipped = self._checked_action(action)
        prev = self.state
        if self.action_type == "trajectory":
            self.state = self.sim.step(prev, Trajectory(a, self.sim.sampling))
        else:
            self.state = self.sim.step_control(prev, Control(float(a[0]), float(a[1])))
        terms = reward_terms(prev, self.state, self.sim.config.reward)
        terminated = self.state.collided or self.state.offroad
        truncated = self.sim.done(self.state) and not terminated
        self._ended = "terminated" if terminated else "truncated" if truncated else None
        obs = self._observe()
        return obs, float(sum(terms.values())), bool(terminated), bool(truncated), self._info(terms, clipped)

    def close(self) -> None:
        if self._gt_thread is not None:
            self._gt_thread.shutdown()
            self._gt_thread = None
        super().close()

    def render(self):
        """(H, W, 3) uint8 RGB of the last decision (``occplan.viz.bev.decision_image``): the perception
        output's top view, the agent boxes, the ego and the plan that led here."""
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        state, occ, cfg = self.state, self._occupancy, self.sim.config
        plan = state.trace.plan
        return decision_image(
            occ.semantics if occ is not None else None, cfg.grid, occ.labels if occ is not None else None,
            state.agents, state.world_from_ego, plan.xy_m if plan is not None else None, cfg.vehicle,
        )  # fmt: skip

    # --- internals -----------------------------------------------------------------------
    def _checked_action(self, action) -> tuple[np.ndarray, bool]:
        """The action as float64 of the Box's exact shape, clipped to the Box; and whether it was clipped.
        A wrong shape, a non-numeric or a non-finite value raises a ValidationError naming the action."""
        what = f"OccDrive-v0 {self.action_type} action"
        shape = self.action_space.shape
        try:
            a = np.array(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{what}: expected a numeric array of shape {shape}, got {action!r:.80} ({exc})"
            ) from exc
        if a.shape != shape:
            layout = "6 waypoints (x, y, yaw)" if self.action_type == "trajectory" else "(accel, steering rate)"
            raise ValidationError(f"{what}: expected shape {shape} = {layout}, got shape {a.shape}")
        if not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a)).tolist()
            raise ValidationError(f"{what}: non-finite values at indices {bad}: {a.tolist()}")
        clipped = np.minimum(np.maximum(a, self._action_low), self._action_high)
        return clipped, not np.array_equal(clipped, a)

    def _sense(self) -> tuple[OccupancyPrediction | None, SensorFrame | None]:
        """The perception output (None without a model) and the sensor frame of the observations' and the
        model's sensors together (None when nothing reads sensors). ``Simulator.observe`` casts each sensor
        once per step: the model's own request (privileged: with the GT occupancy, without visibility
        masks) reads the same cast. With ``sensor_threads=2`` the GT occupancy of a privileged model is
        computed beside the sensor cast."""
        state, model, sim, req = self.state, self._model, self.sim, self._sensors
        sensing = bool(req.lidar_sweeps or req.cameras)
        gt_job = None
        if sensing and model is not None and model.privileged and self.sensor_threads == 2:
            if self._gt_thread is None:
                self._gt_thread = ThreadPoolExecutor(1, thread_name_prefix="occdrive-gt")
            gt_job = self._gt_thread.submit(sim.ground_truth, state, False)
        frame = sim.observe(state, req) if sensing else None
        if gt_job is not None:
            gt_job.result()
        if model is None:
            return None, frame
        mine = sim.observe(state, model.sensor_request(), privileged=model.privileged, ground_truth_masks=False)
        return model.predict(mine), frame

    def _observe(self) -> dict[str, Any]:
        state, sim, cfg, names = self.state, self.sim, self.sim.config, self.observation_names
        occ, frame = self._sense()
        self._occupancy = occ
        obs: dict[str, Any] = {}
        if "occupancy" in names:
            obs["occupancy"] = occ.semantics
        if "flow" in names:
            flow = occ.flow if occ.flow is not None else self._zero_flow
            within = flow is self._zero_flow or (-FLOW_LIMIT_MPS <= flow.min() and flow.max() <= FLOW_LIMIT_MPS)
            obs["flow"] = flow if within else np.clip(flow, -FLOW_LIMIT_MPS, FLOW_LIMIT_MPS, dtype=np.float32)
        if "ego" in names:
            e = state.ego
            obs["ego_state"] = np.array([e.speed_mps, e.accel_mps2, e.yaw_rate_radps, e.steer_rad], np.float32)
            obs["ego_history"] = np.clip(sim.ego_history(state), -STATE_LIMIT, STATE_LIMIT).astype(np.float32)
        if "route" in names:
            ahead = sim.route_ahead(state)
            route = np.zeros((cfg.route_points, 2), np.float32)
            route[: len(ahead)] = np.clip(ahead, -STATE_LIMIT, STATE_LIMIT)
            obs["route"], obs["route_count"] = route, np.asarray(len(ahead), np.int64)
            obs["command"] = int(sim.keyframe(state).command)
        if "drivable" in names:
            mask = sim.drivable_bev(state, cfg.grid)
            obs["drivable"] = (mask if mask is not None else np.zeros(cfg.grid.shape[:2], bool)).view(np.uint8)
        if "lidar" in names:
            lidar = frame.lidar
            pts = lidar.points if len(lidar.origins_m) == 1 else lidar.points[lidar.sweep_index == 0]
            n = min(len(pts), self.max_lidar_points)
            padded = np.empty((self.max_lidar_points, 5), np.float32)
            np.clip(pts[:n], -STATE_LIMIT, STATE_LIMIT, out=padded[:n])
            padded[n:] = 0.0
            obs["lidar_points"], obs["lidar_count"] = padded, np.asarray(n, np.int64)
        if "cameras" in names:
            w, h = self.camera_size_px
            by_channel = {c.channel: c for c in frame.cameras}
            obs["cameras"] = np.stack(
                [np.asarray(Image.fromarray(by_channel[c].load()).resize((w, h))) for c in CAMERA_CHANNELS]
            )
        return obs

    def _info(self, terms: dict[str, float], action_clipped: bool) -> dict[str, Any]:
        state = self.state
        return {
            "scenario": state.context.scenario.name,
            "reward_terms": terms,
            "pose_deviation_m": self.sim.pose_deviation_m(state),
            "collided": state.collided,
            "offroad": state.offroad,
            "action_clipped": action_clipped,
        }
