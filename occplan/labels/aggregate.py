"""A scene's LiDAR in the world frame, and the aggregation windows of its keyframes.

Static points are pooled in the world frame (ego motion compensated through each sweep's own ego pose);
object points are pooled per instance in their box frame (``occplan.labels.split``) and placed back at
each keyframe's box pose (``place_objects``), so moving objects stay compact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occplan.data import NuScenesSource, read_pcd_bin
from occplan.data.source import LIDAR_CHANNEL
from occplan.data.tables import get_row, pose_of
from occplan.errors import DataError
from occplan.types import AgentBox, Pose, Scenario
from occplan.world.rig import SensorRig
from occplan.world.static_points import ground_fallback_labels

UNLABELLED = 255
GROUND_CELL_M, GROUND_HEIGHT_M = 2.0, 0.3  # geometric labels of the degraded mode (``ground_fallback_labels``)


@dataclass(frozen=True)
class SceneSweeps:
    """Every LIDAR_TOP sweep of one scene (S sweeps, P points), ego-body returns removed.

    ``points_m`` (P, 3) float32 world frame minus ``origin_m`` (3,) float64 (float32 keeps 1 mm at the
    scale of a scene); ``sweep`` (P,) int32 index of each point's sweep; ``label`` (P,) uint8
    nuScenes-lidarseg general class (``UNLABELLED`` where the sweep has no labels); ``times_us`` (S,)
    int64; ``sensor_m`` (S, 3) float64 sensor origins, world frame minus ``origin_m``; ``keyframe_sweep``
    (K,) int64 the sweep of each keyframe; ``start`` (S + 1,) int64: sweep s is points
    ``start[s]:start[s + 1]``.
    """

    points_m: np.ndarray
    sweep: np.ndarray
    label: np.ndarray
    times_us: np.ndarray
    sensor_m: np.ndarray
    keyframe_sweep: np.ndarray
    start: np.ndarray
    origin_m: np.ndarray

    @property
    def num_sweeps(self) -> int:
        return len(self.times_us)

    def window(self, keyframe: int, sweeps: int | None) -> np.ndarray:
        """Sweep indices aggregated for ``keyframe``: all (``sweeps`` None) or its own and the
        ``sweeps - 1`` before it (fewer at the start of the scene)."""
        if sweeps is None:
            return np.arange(self.num_sweeps)
        last = int(self.keyframe_sweep[keyframe])
        return np.arange(max(0, last - sweeps + 1), last + 1)

    def point_mask(self, sweeps: np.ndarray) -> np.ndarray:
        """(P,) bool: the points of the given sweep indices."""
        keep = np.zeros(self.num_sweeps, bool)
        keep[sweeps] = True
        return keep[self.sweep]

    def sweep_points(self, s: int) -> np.ndarray:
        """(N, 3) float32 points of sweep ``s`` (world minus ``origin_m``)."""
        return self.points_m[self.start[s] : self.start[s + 1]]


def scene_lidar_rows(source: NuScenesSource, scenario: Scenario, keyframes_only: bool) -> list[dict]:
    """The scene's LIDAR_TOP ``sample_data`` rows in time order: every sweep whose sample belongs to the
    scene (the chain around its keyframes), or only the keyframes."""
    nusc = source.nusc
    first = get_row(nusc, "sample_data", scenario.frames[0].lidar_token, f"scene {scenario.name}")
    if keyframes_only:
        return [get_row(nusc, "sample_data", f.lidar_token, f"scene {scenario.name}") for f in scenario.frames]

    def in_scene(row: dict) -> bool:
        return get_row(nusc, "sample", row["sample_token"], f"sample_data {row['token']}")["scene_token"] == (
            scenario.token
        )

    rows = [first]
    while rows[0]["prev"]:
        prev = get_row(nusc, "sample_data", rows[0]["prev"], f"sample_data {rows[0]['token']}.prev")
        if not in_scene(prev):
            break
        rows.insert(0, prev)
    while rows[-1]["next"]:
        nxt = get_row(nusc, "sample_data", rows[-1]["next"], f"sample_data {rows[-1]['token']}.next")
        if not in_scene(nxt):
            break
        rows.append(nxt)
    return rows


def load_scene_sweeps(
    source: NuScenesSource,
    scenario: Scenario,
    degraded: bool,
    ego_margin_m: float,
    needed: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> SceneSweeps:
    """Read the scene's sweeps (``scene_lidar_rows``), move them to the world frame and drop the
    returns inside the ego body grown by ``ego_margin_m``. Labels: lidarseg on keyframes (general
    classes), ``UNLABELLED`` on sweeps; ``degraded``: keyframes only, each labelled by the geometric
    rule ``ground_fallback_labels`` in its own ego frame. ``needed(times_us (S,), keyframe_sweep (K,))
    -> (S,) bool`` names the sweeps whose points are read (default all); the others keep their time
    and origin but no points."""
    nusc = source.nusc
    rows = scene_lidar_rows(source, scenario, degraded)
    index = {row["token"]: i for i, row in enumerate(rows)}
    missing = [f.lidar_token for f in scenario.frames if f.lidar_token not in index]
    if missing:
        raise DataError(
            f"{source.dataroot}: {LIDAR_CHANNEL} keyframes {missing[:3]} are not in the sweep chain of {scenario.name}"
        )
    times = np.array([int(r["timestamp"]) for r in rows], np.int64)
    keyframe_sweep = np.array([index[f.lidar_token] for f in scenario.frames], np.int64)
    read = np.ones(len(rows), bool) if needed is None else needed(times, keyframe_sweep)
    frame_of = {f.lidar_token: f for f in scenario.frames}
    origin = scenario.frames[0].world_from_ego.translation_m.copy()
    rig = SensorRig()
    points, labels, sensors, counts = [], [], [], []
    for row, wanted in zip(rows, read, strict=True):
        ref = f"sample_data {row['token']}"
        world_from_ego = pose_of(get_row(nusc, "ego_pose", row["ego_pose_token"], ref), "ego_pose")
        ego_from_sensor = pose_of(
            get_row(nusc, "calibrated_sensor", row["calibrated_sensor_token"], ref), "calibrated_sensor"
        )
        sensors.append((world_from_ego @ ego_from_sensor).translation_m - origin)
        if not wanted:
            counts.append(0)
            continue
        raw = read_pcd_bin(Path(nusc.dataroot) / row["filename"])
        ego = ego_from_sensor.transform_points(raw[:, :3])
        keep = ~rig.ego_box_contains(ego, ego_margin_m)
        frame = frame_of.get(row["token"])
        if degraded:
            label = ground_fallback_labels(ego[keep], GROUND_CELL_M, GROUND_HEIGHT_M)
        elif frame is not None:
            seg = source.lidarseg(frame)
            if seg is None:
                raise DataError(f"{source.dataroot}: keyframe {frame.sample_token} of {scenario.name} has no lidarseg")
            label = seg[keep]
        else:
            label = np.full(int(keep.sum()), UNLABELLED, np.uint8)
        world = world_from_ego.transform_points(ego[keep]) - origin
        points.append(world.astype(np.float32))
        labels.append(label.astype(np.uint8))
        counts.append(len(world))
    start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return SceneSweeps(
        points_m=np.concatenate(points) if points else np.zeros((0, 3), np.float32),
        sweep=np.repeat(np.arange(len(rows), dtype=np.int32), counts),
        label=np.concatenate(labels) if labels else np.zeros(0, np.uint8),
        times_us=times,
        sensor_m=np.array(sensors, np.float64),
        keyframe_sweep=keyframe_sweep,
        start=start,
        origin_m=origin,
    )


def place_objects(
    local_m: np.ndarray, instance: np.ndarray, boxes: tuple[AgentBox, ...], instance_of: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Object points pooled in their box frames, placed at the boxes ``boxes`` (one frame, e.g. a
    keyframe's ego frame): ``local_m`` (M, 3) box-frame points (x along the heading) of instances
    ``instance`` (M,) int32 -> (points (Q, 3) float64 in the boxes' frame, box index (Q,) int64 into
    ``boxes``). ``instance_of`` maps a box's instance token to the ids used in ``instance``; boxes with
    no pooled points place nothing."""
    order = np.argsort(instance, kind="stable")
    sorted_inst = instance[order]
    out, which = [], []
    for b, box in enumerate(boxes):
        k = instance_of.get(box.instance)
        if k is None:
            continue
        lo, hi = np.searchsorted(sorted_inst, [k, k + 1])
        if lo == hi:
            continue
        local = local_m[order[lo:hi]].astype(np.float64)
        c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
        placed = (
            np.column_stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]])
            + box.center_m
        )
        out.append(placed)
        which.append(np.full(len(placed), b, np.int64))
    if not out:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    return np.concatenate(out), np.concatenate(which)


def grid_from_world(world_from_ego: Pose, ego_from_lidar: Pose, grid_frame: str) -> Pose:
    """The target grid's frame from the world: the ego frame (Occ3D) or the LiDAR frame (OpenOccupancy)."""
    world_from_grid = world_from_ego if grid_frame == "ego" else world_from_ego @ ego_from_lidar
    return world_from_grid.inverse()
