"""Sensor frames of a simulated state, each sensor produced once per state.

Open loop (ego on the log, a data source known): the logged sensors of the keyframe nearest in time.
Closed loop: LiDAR re-cast at the simulated substep poses, cameras re-rendered at the simulated pose
where the world can render (else the keyframe's logged images).

A ``SimState`` is one decision at one pose, so its ``memo`` is the per-step cache: the LiDAR sweep by
sweep count and the camera frames by channel and size are kept there under ``SENSOR_MEMO``, and every
``sensor_frame`` call on the same state (the perception model's input, an env's sensor observations)
reuses them. A cached product is the object the first call built, so the frames are identical.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from occplan.interfaces import SensorRequest
from occplan.sim.state import SimState
from occplan.types import CameraFrame, Frame, LidarSweep, OccupancyFrame, Pose, SensorFrame
from occplan.world.lidar import points_to_frame

SENSOR_MEMO = "sensors"
"""Key of the per-state sensor cache in ``SimState.memo``: {("lidar", n_sweeps): LidarSweep,
("camera", channel, camera_wh_px): CameraFrame}."""


def sensor_frame(
    state: SimState, keyframe: Frame, request: SensorRequest, ground_truth: OccupancyFrame | None = None
) -> SensorFrame:
    """The ``request``ed sensors at ``state`` (``keyframe``: the scenario keyframe nearest in time),
    with ``ground_truth`` attached (privileged models only). Frames: LiDAR points and camera extrinsics
    in the ego frame of the state (open loop: of the keyframe)."""
    ctx = state.context
    cache = state.memo.setdefault(SENSOR_MEMO, {})
    if ctx.config.mode == "open" and ctx.source is not None:
        logged = ctx.source.sensor_frame(keyframe, SensorRequest(request.cameras))
        lidar = None
        if request.lidar_sweeps:
            key = ("lidar", request.lidar_sweeps)
            if key not in cache:
                cache[key] = ctx.source.lidar(keyframe, request.lidar_sweeps)
            lidar = cache[key]
        return replace(logged, lidar=lidar, ground_truth=ground_truth)
    lidar = None
    if request.lidar_sweeps:
        key = ("lidar", request.lidar_sweeps)
        if key not in cache:
            cache[key] = recast_lidar(state, keyframe, request.lidar_sweeps)
        lidar = cache[key]
    size = request.camera_wh_px
    missing = tuple(c for c in request.cameras if ("camera", c, size) not in cache)
    if missing:
        for camera in simulated_cameras(state, keyframe, missing, size):
            cache["camera", camera.channel, size] = camera
    cameras = tuple(cache["camera", c, size] for c in request.cameras)
    history = tuple(Pose.from_xy_yaw(x, y, yaw) for x, y, yaw in state.history[:-1])
    return SensorFrame(
        ctx.scenario.name, keyframe.sample_token, state.time_us, state.world_from_ego, state.ego, lidar, cameras,
        history, ground_truth,
    )  # fmt: skip


def world_agents(state: SimState):
    """The agent boxes to hand to World queries at ``state``: None (the world's own tracks) under log
    replay, the simulated boxes with IDM agents."""
    return state.agents if state.context.idm is not None else None


def recent_substeps(state: SimState, n: int) -> list[tuple[int, np.ndarray, object]]:
    """The last ``n`` substeps of ``state``'s trace, newest first: (row, ego vector, IDM state or None)."""
    out, trace = [], state.trace
    while trace is not None and len(out) < n:
        for i in range(len(trace.ego) - 1, -1, -1):
            if len(out) < n:
                out.append((trace.first_row + i, trace.ego[i], trace.idm[i] if trace.idm is not None else None))
        trace = trace.parent
    return out


def recast_lidar(state: SimState, keyframe: Frame, n_sweeps: int) -> LidarSweep:
    """LiDAR re-cast at the last ``n_sweeps`` substep poses (0.1 s apart), in the ego frame of ``state``
    (mounted as on ``keyframe``). Near the log's start, where fewer substeps exist, the earliest re-cast
    sweep is repeated as the logged sweeps are (``occplan.data.lidar.pad_sweeps``)."""
    from occplan.data.lidar import pad_sweeps  # imported here: it loads nuscenes-devkit

    ctx = state.context
    ego_from_world = state.world_from_ego.inverse()
    pts, lags, origins, index = [], [], [], []
    for k, (row, ego, idm) in enumerate(recent_substeps(state, n_sweeps)):
        t = ctx.log.start_us + row * ctx.config.dt_us
        pose = Pose.from_xy_yaw(ego[0], ego[1], ego[2], ctx.log.z_at(t))
        agents = ctx.agent_boxes(row, idm) if ctx.idm is not None else None
        scan = ctx.world.lidar_scan(pose, t, agents)
        cur_from_lidar = ego_from_world @ pose @ keyframe.ego_from_lidar
        p = points_to_frame(scan.points_sensor, cur_from_lidar)
        pts.append(p)
        lags.append(np.full(len(p), (state.time_us - t) * 1e-6, np.float32))
        origins.append(cur_from_lidar.translation_m)
        index.append(np.full(len(p), k, np.int16))
    if len(pts) == 1:  # no copies for a single sweep
        sweep = LidarSweep(pts[0], lags[0], np.array(origins), index[0])
    else:
        sweep = LidarSweep(np.concatenate(pts), np.concatenate(lags), np.array(origins), np.concatenate(index))
    return pad_sweeps(sweep, n_sweeps)


def simulated_cameras(
    state: SimState, keyframe: Frame, channels: tuple[str, ...], camera_wh_px: tuple[int, int] | None = None
) -> tuple[CameraFrame, ...]:
    """``channels`` re-rendered at the state's pose where the world can render, at ``camera_wh_px``
    (width, height; None: the logged cameras' resolution) with the logged intrinsics scaled to it, else
    ``keyframe``'s logged images."""
    logged = {c.channel: c for c in keyframe.cameras}
    missing = [c for c in channels if c not in logged]
    if missing:
        raise ValueError(f"scenario {state.context.scenario.name}: keyframe has no camera {missing}")
    by_size: dict[tuple[int, int], list[str]] = {}
    for c in channels:
        by_size.setdefault(camera_wh_px or (logged[c].width_px, logged[c].height_px), []).append(c)
    world = state.context.world
    if not world.renders_cameras:
        return tuple(logged[c] for c in channels)  # real logs: the logged images, from the logged pose
    agents = world_agents(state)
    images = {}
    for (w, h), group in by_size.items():
        images |= world.render_cameras(state.world_from_ego, state.time_us, group, agents, width=w, height=h)
    return tuple(_rendered(logged[c], images[c][0]) for c in channels)


def _rendered(logged: CameraFrame, image: np.ndarray) -> CameraFrame:
    """``logged`` with a rendered (H, W, 3) image, its size and its intrinsics scaled to that size."""
    h, w = image.shape[:2]
    scale = np.diag([w / logged.width_px, h / logged.height_px, 1.0])
    return replace(logged, image=image, image_path=None, width_px=w, height_px=h, intrinsics=scale @ logged.intrinsics)
