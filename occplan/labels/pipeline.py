"""Labels of one scene: its sweeps are read, split and pooled once; each keyframe is then voxelised,
densified, given objects, flow and masks (``SceneLabeller.keyframe``), and ``label_scene`` writes them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occplan.data import NuScenesSource
from occplan.errors import DataError
from occplan.labels.aggregate import SceneSweeps, grid_from_world, load_scene_sweeps, place_objects, scene_lidar_rows
from occplan.labels.config import LabelConfig
from occplan.labels.densify import densify
from occplan.labels.flow import object_flow
from occplan.labels.semantics import StaticCloud, box_labels, static_cloud
from occplan.labels.split import SplitPoints, split_scene
from occplan.labels.visibility import camera_mask, lidar_mask, mask_sweeps
from occplan.labels.voxelise import vote
from occplan.labels.writer import labels_path, write_done, write_labels
from occplan.types import LabelSet, Pose
from occplan.world.occupancy_gt import grid_world_box

_FREE = LabelSet.occ3d().free_index
DEGRADED_HINT = "pass --degraded for keyframe-only labels with geometric classes (docs/LABELS.md)"


@dataclass(frozen=True)
class KeyframeLabels:
    """Occ3D labels of one keyframe on ``LabelConfig.grid``: ``semantics`` (X, Y, Z) uint8, ``flow``
    (X, Y, Z, 2) float32 m/s grid frame, ``mask_lidar`` / ``mask_camera`` (X, Y, Z) bool (all False
    when masks are off)."""

    semantics: np.ndarray
    flow: np.ndarray
    mask_lidar: np.ndarray
    mask_camera: np.ndarray


def check_inputs(source: NuScenesSource, scene: str, config: LabelConfig) -> None:
    """DataError naming the dataroot and the missing field when the full mode lacks sweeps or lidarseg."""
    if config.degraded:
        return
    scenario = source.scenario(scene)
    rows = scene_lidar_rows(source, scenario, keyframes_only=False)
    if not any(not r["is_key_frame"] for r in rows):
        raise DataError(
            f"{source.dataroot}: scene {scene} has no LiDAR sweeps (sample_data rows of LIDAR_TOP with "
            f"is_key_frame = false under sweeps/); {DEGRADED_HINT}"
        )
    if source.lidarseg(scenario.frames[0]) is None:
        raise DataError(
            f"{source.dataroot}: no lidarseg labels for keyframe {scenario.frames[0].sample_token} of {scene} "
            f"(table lidarseg.json, field filename under lidarseg/); {DEGRADED_HINT}"
        )


class SceneLabeller:
    """Reads, splits and pools one scene's LiDAR once (``config``), then labels any keyframe."""

    def __init__(self, source: NuScenesSource, scene: str, config: LabelConfig) -> None:
        self.config = config
        self.scenario = source.scenario(scene)
        self.sweeps: SceneSweeps = load_scene_sweeps(
            source, self.scenario, config.degraded, config.ego_margin_m, self._needed
        )
        self.split: SplitPoints = split_scene(self.sweeps, self.scenario, config.box_margin_m)
        self.instance_of = {token: i for i, token in enumerate(self.split.ids)}
        self._scene_cloud: StaticCloud | None = None

    def _needed(self, times_us: np.ndarray, keyframe_sweep: np.ndarray) -> np.ndarray:
        """(S,) bool: the sweeps some keyframe aggregates or casts for its ``mask_lidar``."""
        c = self.config
        if c.sweeps is None or c.degraded:
            return np.ones(len(times_us), bool)
        read = np.zeros(len(times_us), bool)
        for key in keyframe_sweep:
            read[max(0, key - c.sweeps + 1) : key + 1] = True
            if c.with_masks:
                read[mask_sweeps(times_us, int(times_us[key]), c.mask_sweep_offsets)] = True
        return read

    def static_cloud(self, sweeps: np.ndarray, movable: bool = False) -> StaticCloud:
        """Static points of the given sweep indices pooled in world cells (minus ``sweeps.origin_m``):
        without the cells of a movable class (a car or pedestrian outside every annotated box is not
        pooled over time, it would leave a trail), or with ``movable`` only those cells."""
        sel = self.sweeps.point_mask(sweeps) & self.split.static
        c = self.config
        cloud = static_cloud(
            self.sweeps.points_m[sel].astype(np.float64), self.sweeps.label[sel], c.cell_m, c.label_radius_m
        )
        return cloud.select(cloud.movable() == movable)

    def window(self, k: int, exclude: tuple[int, ...] = ()) -> np.ndarray:
        """Sweeps aggregated for keyframe ``k``, without the sweeps of keyframes ``exclude``."""
        window = self.sweeps.window(k, None if self.config.degraded else self.config.sweeps)
        return np.setdiff1d(window, self.sweeps.keyframe_sweep[list(exclude)])

    def keyframe(self, k: int, exclude: tuple[int, ...] = ()) -> KeyframeLabels:
        """Labels of keyframe ``k`` built from its window's sweeps, leaving out keyframes ``exclude``."""
        c, frame, grid = self.config, self.scenario.frames[k], self.config.grid
        window = self.window(k, exclude)
        if c.sweeps is None and not exclude:
            if self._scene_cloud is None:
                self._scene_cloud = self.static_cloud(window)
            cloud = self._scene_cloud
        else:
            cloud = self.static_cloud(window)
        if k not in exclude:  # movable things outside boxes: from the keyframe's own sweep only
            cloud = cloud + self.static_cloud(self.sweeps.keyframe_sweep[k : k + 1], movable=True)
        grid_from_w = grid_from_world(frame.world_from_ego, frame.ego_from_lidar, grid.frame)
        grid_from_rel = grid_from_w @ Pose(np.eye(3), self.sweeps.origin_m)  # scene-relative world -> grid
        lo, hi = grid_world_box(grid_from_w.inverse(), grid)
        near = np.all(
            (cloud.points_m >= lo - self.sweeps.origin_m) & (cloud.points_m <= hi - self.sweeps.origin_m), axis=1
        )
        semantics = vote(
            grid_from_rel.transform_points(cloud.points_m[near]), cloud.label[near], grid, cloud.weight[near]
        )
        if c.densify:
            semantics = densify(semantics, c.ground_bridge_vox, c.bridge_reach_vox)
        grid_from_ego = grid_from_w @ frame.world_from_ego
        local, inst = self.split.object_rows(self.sweeps.point_mask(window))
        placed, box = place_objects(local, inst, frame.agents, self.instance_of)
        placed = grid_from_ego.transform_points(placed) if len(placed) else placed
        objects = vote(placed, box_labels(frame.agents)[box], grid) if len(placed) else None
        if objects is not None:
            semantics = np.where(objects != _FREE, objects, semantics)
        flow = object_flow(placed, box, frame.agents, grid_from_ego, grid)
        mask_lidar = mask_camera = np.zeros(grid.shape, np.bool_)
        if c.with_masks:
            mask_lidar = self._mask_lidar(k, grid_from_rel, exclude)
            mask_camera = camera_mask(semantics, frame.cameras, grid_from_ego, grid, c.mask_camera_size_px) & mask_lidar
        return KeyframeLabels(semantics, flow, mask_lidar, mask_camera)

    def _mask_lidar(self, k: int, grid_from_rel: Pose, exclude: tuple[int, ...]) -> np.ndarray:
        sw = self.sweeps
        chosen = mask_sweeps(sw.times_us, int(sw.times_us[sw.keyframe_sweep[k]]), self.config.mask_sweep_offsets)
        chosen = np.setdiff1d(chosen, sw.keyframe_sweep[list(exclude)])
        origins = [grid_from_rel.transform_points(sw.sensor_m[s][None])[0] for s in chosen]
        points = [grid_from_rel.transform_points(sw.sweep_points(s).astype(np.float64)) for s in chosen]
        return lidar_mask(origins, points, self.config.grid)


def label_scene(source: NuScenesSource, scene: str, config: LabelConfig, out_dir: str | Path) -> dict:
    """Write the labels of every keyframe of ``scene`` under ``out_dir`` and its finished-scene record
    (returned): config tag, keyframes, seconds to read and pool, seconds per keyframe."""
    check_inputs(source, scene, config)
    t0 = time.perf_counter()
    labeller = SceneLabeller(source, scene, config)
    t_setup = time.perf_counter() - t0
    frames = labeller.scenario.frames
    for k, frame in enumerate(frames):
        out = labeller.keyframe(k)
        write_labels(
            labels_path(out_dir, scene, frame.sample_token), out.semantics, out.mask_lidar, out.mask_camera, out.flow
        )
    total = time.perf_counter() - t0
    record = {
        "scene": scene,
        "config": config.tag,
        "grid": config.grid.name,
        "keyframes": len(frames),
        "sweeps": labeller.sweeps.num_sweeps,
        "setup_s": round(t_setup, 3),
        "seconds_per_keyframe": round(total / len(frames), 3),
    }
    write_done(out_dir, scene, record)
    return record
