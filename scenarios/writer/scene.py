"""Write one generated scene (a ``WorldSpec`` and the ``World`` that renders it) as nuScenes-format files.

Timeline: LIDAR_TOP sweeps every ``sweep_period_us`` from ``spec.start_time_us``; every
``sweeps_per_keyframe``-th sweep is a keyframe (a ``sample``), where the 6 cameras are rendered at the
same timestamp, lidarseg labels and Occ3D ground truth are written and the agents are annotated.
Non-keyframe sweeps go to ``sweeps/`` and point (``sample_token``) at the nearest keyframe. Every
sample_data has its own ``ego_pose`` row (token = sample_data token): the expert ego pose at its
timestamp as the world interpolates it (``GeneratedWorld.logged_world_from_ego``), so the written poses
are exactly the poses the sensors were simulated from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occplan.errors import ValidationError
from occplan.types import CAMERA_CHANNELS, AgentBox, GridSpec, LabelSet, Pose
from occplan.world.base import LidarScan
from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.writer import schema
from scenarios.writer.calibration import SensorCalibration, calibrated_sensor_row
from scenarios.writer.occupancy_gt import occupancy_filename, write_occ3d
from scenarios.writer.sensor_files import (
    lidarseg_filename,
    semantic_filename,
    sensor_filename,
    write_jpeg,
    write_lidarseg_bin,
    write_pcd_bin,
    write_semantic_png,
)
from scenarios.writer.tables import SceneTables
from scenarios.writer.tokens import make_token

# Box sample points for visibility: centre and the 8 corners pulled 20 % towards the centre (box units).
_VIS_OFFSETS = np.array([[0, 0, 0]] + [[x, y, z] for x in (-0.4, 0.4) for y in (-0.4, 0.4) for z in (-0.4, 0.4)])


@dataclass(frozen=True)
class WriterConfig:
    """Timeline and annotation settings of the writer (defaults = nuScenes rates)."""

    sweep_period_us: int = 50_000  # LIDAR_TOP at 20 Hz
    sweeps_per_keyframe: int = 10  # keyframes at 2 Hz
    annotation_range_m: float = 60.0  # agents annotated within this xy distance of the ego
    version: str = schema.VERSION

    def __post_init__(self) -> None:
        if self.sweep_period_us <= 0 or self.sweeps_per_keyframe <= 0:
            raise ValidationError(f"WriterConfig: bad timeline {self.sweep_period_us} us x {self.sweeps_per_keyframe}")


@dataclass(frozen=True)
class SceneStats:
    """What writing one scene cost: rays cast (LiDAR beams x azimuths, camera pixels) and points written."""

    lidar_rays: int
    camera_rays: int
    lidar_points: int
    keyframes: int
    sweeps: int


def sweep_times_us(spec: WorldSpec, cfg: WriterConfig) -> np.ndarray:
    """(S,) int64 sweep timestamps covered by both the scene duration and the ego log."""
    end_us = min(spec.start_time_us + round(spec.duration_s * 1e6), int(spec.ego.times_us[-1]))
    n = (end_us - spec.start_time_us) // cfg.sweep_period_us + 1
    if n < 1 or spec.ego.times_us[0] > spec.start_time_us:
        raise ValidationError(f"WorldSpec[{spec.scene_name}].ego: log does not cover the scene start")
    return spec.start_time_us + np.arange(n, dtype=np.int64) * cfg.sweep_period_us


def _visible_fraction(
    world: GeneratedWorld, boxes: list[AgentBox], agent_index: np.ndarray, origin_m: np.ndarray, time_us: int
):
    """(B,) fraction of each box's 9 sample points reached unoccluded by rays from ``origin_m`` (world)."""
    if not boxes:
        return np.zeros(0)
    centre = np.stack([b.center_m for b in boxes])
    size = np.stack([b.size_m[[1, 0, 2]] for b in boxes])  # (l, w, h) along box x, y, z
    yaw = np.array([b.yaw_rad for b in boxes])
    local = _VIS_OFFSETS[None] * size[:, None]  # (B, 9, 3)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    pts = np.stack([c * local[..., 0] - s * local[..., 1], s * local[..., 0] + c * local[..., 1], local[..., 2]], -1)
    pts = (pts + centre[:, None]).reshape(-1, 3)
    ray = pts - origin_m
    dist = np.linalg.norm(ray, axis=1)
    hits = world.cast_rays(origin_m, ray / np.maximum(dist, 1e-9)[:, None], time_us, float(dist.max()) + 1.0)
    seen = hits.instance.reshape(len(boxes), -1) == agent_index[:, None]
    return seen.mean(axis=1)


class _SceneWriter:
    """Holds the tokens and chains of one scene while its files are written."""

    def __init__(
        self, spec: WorldSpec, world: GeneratedWorld, calib: SensorCalibration, dataroot: Path, cfg: WriterConfig
    ):
        self.spec, self.world, self.calib, self.root, self.cfg = spec, world, calib, dataroot, cfg
        self.logfile = f"occplan-{spec.seed}-{spec.scene_name}"
        self.out = SceneTables(spec.scene_name, spec.location, self.token("log"))
        self.agent_index = {name: i for i, name in enumerate(world.agent_ids)}
        self.general = set(LabelSet.lidarseg_general().class_names)
        self.last_sd: dict[str, dict] = {}
        self.annotations: dict[str, list[dict]] = {}
        self.categories: dict[str, str] = {}

    def token(self, *parts: object) -> str:
        return make_token("occplan", self.spec.seed, self.spec.scene_name, *parts)

    # --- rows ----------------------------------------------------------------------------
    def _sample_data(self, channel: str, k: int, time_us: int, pose: Pose, sample: str, rel: str, key: bool, wh):
        token = self.token("sample_data", channel, k)
        t = pose.translation_m
        self.out.add("ego_pose", {"token": token, "timestamp": int(time_us),
                                  "rotation": [float(v) for v in pose.quaternion_wxyz],
                                  "translation": [float(t[0]), float(t[1]), float(t[2])]})  # fmt: skip
        row = {
            "token": token,
            "sample_token": sample,
            "ego_pose_token": token,
            "calibrated_sensor_token": self.token("calibrated_sensor", channel),
            "timestamp": int(time_us),
            "fileformat": rel.rsplit(".", 1)[-1] if channel in CAMERA_CHANNELS else "pcd",
            "is_key_frame": key,
            "height": wh[1],
            "width": wh[0],
            "filename": rel,
            "prev": "",
            "next": "",
        }
        if channel in self.last_sd:
            row["prev"] = self.last_sd[channel]["token"]
            self.last_sd[channel]["next"] = token
        self.last_sd[channel] = row
        self.out.add("sample_data", row)
        return token

    def _annotate(self, sample: str, time_us: int, pose: Pose, scan: LidarScan) -> None:
        ego_xy = pose.translation_m[:2]
        boxes = [
            b
            for b in self.world.agent_boxes(time_us)
            if np.hypot(*(b.center_m[:2] - ego_xy)) <= self.cfg.annotation_range_m
        ]
        for b in boxes:
            if b.category not in self.general or b.instance not in self.agent_index:
                raise ValidationError(
                    f"WorldSpec[{self.spec.scene_name}] agent {b.instance}: category {b.category!r} is not a "
                    "nuScenes-lidarseg general class or the agent is not in World.agent_ids"
                )
        index = np.array([self.agent_index[b.instance] for b in boxes], dtype=np.int64)
        hit = scan.instance[scan.instance >= 0]
        n_pts = np.bincount(hit, minlength=len(self.agent_index))
        origin = (pose @ self.calib.ego_from_lidar).translation_m
        vis = _visible_fraction(self.world, boxes, index, origin, time_us)
        for b, i, v in zip(boxes, index, vis):
            rot = Pose.from_xy_yaw(0.0, 0.0, b.yaw_rad).quaternion_wxyz
            row = {
                "token": self.token("sample_annotation", b.instance, sample),
                "sample_token": sample,
                "instance_token": self.token("instance", b.instance),
                "visibility_token": schema.visibility_token(float(v)),
                "attribute_tokens": [schema.attribute_token(a) for a in b.attributes],
                "translation": [float(c) for c in b.center_m],
                "size": [float(c) for c in b.size_m],
                "rotation": [float(c) for c in rot],
                "prev": "",
                "next": "",
                "num_lidar_pts": int(n_pts[i]),
                "num_radar_pts": 0,
            }
            chain = self.annotations.setdefault(b.instance, [])
            if chain:
                row["prev"] = chain[-1]["token"]
                chain[-1]["next"] = row["token"]
            chain.append(row)
            self.out.add("sample_annotation", row)
            self.categories[b.instance] = b.category

    # --- files ---------------------------------------------------------------------------
    def write(self, progress: Callable[[int], None] | None = None) -> SceneStats:
        spec, cfg, calib = self.spec, self.cfg, self.calib
        times = sweep_times_us(spec, cfg)
        poses = [self.world.logged_world_from_ego(int(t)) for t in times]
        key_idx = np.arange(0, len(times), cfg.sweeps_per_keyframe)
        samples = [self.token("sample", int(k)) for k in key_idx]
        nearest_key = np.clip(
            np.round(np.arange(len(times)) / cfg.sweeps_per_keyframe).astype(int), 0, len(key_idx) - 1
        )

        self._log_and_calibration()
        for i, s in enumerate(samples):
            self.out.add("sample", {"token": s, "timestamp": int(times[key_idx[i]]),
                                    "prev": samples[i - 1] if i else "",
                                    "next": samples[i + 1] if i + 1 < len(samples) else "",
                                    "scene_token": self.token("scene")})  # fmt: skip

        lidar_rays = camera_rays = lidar_points = 0
        grid = GridSpec.occ3d_nuscenes()
        for k, (t, pose) in enumerate(zip(times.tolist(), poses)):
            key = k % cfg.sweeps_per_keyframe == 0
            sample = samples[nearest_key[k]]
            scan = self.world.lidar_scan(pose, t)
            lidar_rays += calib.lidar_rays_per_sweep
            lidar_points += len(scan.points_sensor)
            rel = sensor_filename("samples" if key else "sweeps", self.logfile, schema.LIDAR_CHANNEL, t, "pcd.bin")
            write_pcd_bin(self.root, rel, scan.points_sensor)
            sd = self._sample_data(schema.LIDAR_CHANNEL, k, t, pose, sample, rel, key, (0, 0))
            if key:
                seg = lidarseg_filename(cfg.version, sd)
                write_lidarseg_bin(self.root, seg, scan.labels, len(scan.points_sensor))
                self.out.add("lidarseg", {"token": sd, "sample_data_token": sd, "filename": seg})
                write_occ3d(self.root, occupancy_filename(spec.scene_name, sample), self.world.occupancy(pose, t, grid))
                images = self.world.render_cameras(
                    pose, t, CAMERA_CHANNELS, width=calib.width_px, height=calib.height_px
                )
                for ch in CAMERA_CHANNELS:
                    rgb, sem = images[ch]
                    cam_rel = sensor_filename("samples", self.logfile, ch, t, "jpg")
                    write_jpeg(self.root, cam_rel, rgb)
                    write_semantic_png(self.root, semantic_filename(cam_rel), sem)
                    self._sample_data(ch, k, t, pose, sample, cam_rel, True, (calib.width_px, calib.height_px))
                    camera_rays += calib.width_px * calib.height_px
                self._annotate(sample, t, pose, scan)
            if progress is not None:
                progress(1)

        self._instances_and_scene(samples)
        return SceneStats(lidar_rays, camera_rays, lidar_points, len(samples), len(times))

    def _log_and_calibration(self) -> None:
        spec, calib = self.spec, self.calib
        date = dt.datetime.fromtimestamp(spec.start_time_us / 1e6, tz=dt.UTC).date().isoformat()
        self.out.add("log", {"token": self.out.log_token, "logfile": self.logfile, "vehicle": "occplan",
                             "date_captured": date, "location": spec.location})  # fmt: skip
        self.out.add(
            "calibrated_sensor",
            calibrated_sensor_row(
                self.token("calibrated_sensor", schema.LIDAR_CHANNEL),
                schema.sensor_token(schema.LIDAR_CHANNEL),
                calib.ego_from_lidar,
                None,
            ),
        )
        for ch in CAMERA_CHANNELS:
            self.out.add(
                "calibrated_sensor",
                calibrated_sensor_row(
                    self.token("calibrated_sensor", ch),
                    schema.sensor_token(ch),
                    calib.ego_from_cam[ch],
                    calib.intrinsics[ch],
                ),
            )

    def _instances_and_scene(self, samples: list[str]) -> None:
        for name, chain in self.annotations.items():
            self.out.add("instance", {"token": self.token("instance", name),
                                      "category_token": schema.category_token(self.categories[name]),
                                      "nbr_annotations": len(chain),
                                      "first_annotation_token": chain[0]["token"],
                                      "last_annotation_token": chain[-1]["token"]})  # fmt: skip
        spec = self.spec
        self.out.add("scene", {"token": self.token("scene"), "log_token": self.out.log_token,
                               "nbr_samples": len(samples), "first_sample_token": samples[0],
                               "last_sample_token": samples[-1], "name": spec.scene_name,
                               "description": f"OccPlan generated world, seed {spec.seed}, location {spec.location}, "
                                              f"{len(spec.agents)} agents"})  # fmt: skip


def write_scene(
    spec: WorldSpec,
    world: GeneratedWorld,
    calib: SensorCalibration,
    dataroot: Path,
    cfg: WriterConfig = WriterConfig(),
    progress: Callable[[int], None] | None = None,
) -> tuple[SceneTables, SceneStats]:
    """Write every file of one scene under ``dataroot`` (sensor files, lidarseg, Occ3D GT, world
    description) and return its table rows and cost. ``progress(n)`` is called once per sweep.

    The map is written per location, once all scenes placed there are known (``write_map`` of
    ``merge_layers`` of their ``spec.map``)."""
    from occplan.world.spec_io import save_world

    writer = _SceneWriter(spec, world, calib, Path(dataroot), cfg)
    stats = writer.write(progress)
    save_world(spec, Path(dataroot) / "occplan_worlds" / spec.scene_name)
    return writer.out, stats
