"""``ReconstructedWorld``: a World rebuilt from a real nuScenes log, so that LiDAR can be re-cast and
ground-truth occupancy computed at poses the log never visited.

Reconstruction (documented once here):

- Static geometry: the LiDAR points of the log's keyframes (with their sweeps when the dataroot has
  them) are moved to the world frame; returns from the ego body and points inside any annotated box
  (grown by ``box_margin_m``, and along its length by speed x ``motion_margin_s``: a LiDAR sweep
  smears a moving object over its 50 ms) are dropped, and so are points inside the volume the ego
  swept along the log (its box between ``ego_clearance_m`` and ``ego_top_m`` above the ground at the
  logged poses every ``ego_path_step_s``, grown by ``ego_path_margin_m`` = half a voxel: the ego
  drove through it, so whatever was there was transient); the rest is voxelised at ``voxel_size_m``
  into a column bit-mask (64 voxels per (x, y) column, from ``z_min_m`` above the log's mean ego
  height) with a per-voxel label (majority) and mean intensity.
- Labels: nuScenes-lidarseg general classes when the dataroot has lidarseg; otherwise a geometric
  fallback, computed per LiDAR frame in its own ego frame (nuScenes ego poses carry no height, so a
  sloped road seen from afar lands metres above or below its later near view in the world frame and
  a world-frame ground estimate would call it a wall): points within ``ground_height_m`` of the local
  ground (the lowest point per ``ground_cell_m`` cell, median-filtered) are ``flat.driveable_surface``
  inside the map's drivable area and ``flat.sidewalk`` outside, everything else ``static.manmade``;
  points under the ego's logged path (below ``ego_clearance_m``) are ``flat.driveable_surface``.
- Agents: every annotated instance becomes a moving oriented box, interpolated between keyframes
  (``occplan.world.tracks.AgentTracks``).
- LiDAR: the nuScenes LIDAR_TOP beam pattern (``occplan.world.rig.LidarSpec``) at the log's LiDAR
  calibration; static hits come from a voxel traversal of the columns (numba; blocks of 8 x 8
  columns whose bits miss the ray's layers are skipped whole), the range is the middle of the ray's
  run through the first occupied voxel; agent hits are exact box hits.
- Occupancy: the occupied voxel centres and the agent boxes are voxelised into the query grid with
  the generated world's box kernel and class ranking (``occplan.world.occupancy_gt``). No visibility masks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numba as nb
import numpy as np

from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyFrame, Pose, Scenario
from occplan.world.base import LidarScan, RayHits
from occplan.world.lidar import REFLECTIVITY, ego_body, head_on_intensity, on_ego_body, return_intensity
from occplan.world.occupancy_gt import GENERAL_TO_OCC3D, voxelise_boxes
from occplan.world.raycast import BoxSet, SectorIndex, cast_boxes
from occplan.world.rig import SensorRig
from occplan.world.spec import AgentTrack
from occplan.world.static_points import ReconstructionConfig, static_points
from occplan.world.tiled_points import TiledPoints
from occplan.world.tracks import AgentTracks, TrackedWorld
from occplan.world.voxel_columns import StaticVoxels

_GENERAL = LabelSet.lidarseg_general()


def tracks_from_scenario(scenario: Scenario) -> list[AgentTrack]:
    """One AgentTrack per annotated instance (world frame), sampled at the keyframes it appears in."""
    rows: dict[str, list[tuple[int, AgentBox]]] = {}
    for f in scenario.frames:
        rot, yaw0 = f.world_from_ego.rotation, f.world_from_ego.yaw_rad
        for b in f.agents:
            world = AgentBox(
                f.world_from_ego.transform_points(b.center_m[None])[0], b.size_m, float(b.yaw_rad + yaw0),
                (rot[:2, :2] @ b.velocity_mps), b.category, b.instance, b.attributes,
            )  # fmt: skip
            rows.setdefault(b.instance, []).append((f.time_us, world))
    tracks = []
    for inst, seq in rows.items():
        names = tuple(sorted({a for _, b in seq for a in b.attributes}))
        cat = seq[0][1].category
        label = _GENERAL.class_names.index(cat) if cat in _GENERAL.class_names else 0
        tracks.append(
            AgentTrack(
                instance=inst,
                category=cat,
                label=label,
                size_m=np.asarray(seq[0][1].size_m, np.float64),
                times_us=np.array([t for t, _ in seq], np.int64),
                center_m=np.array([b.center_m for _, b in seq]),
                yaw_rad=np.unwrap([b.yaw_rad for _, b in seq]),
                velocity_mps=np.array([b.velocity_mps for _, b in seq]),
                attribute=np.array([names.index(b.attributes[0]) if b.attributes else -1 for _, b in seq], np.int16),
                attribute_names=names,
            )
        )
    return tracks


@nb.njit(cache=True)
def _sweep(  # pragma: no cover - compiled
    dist, index, vox_label, vox_intensity, d_box, box, box_label, box_inst, dirs_sensor, ring,
    ego_from_sensor, lo, hi, table,
):  # fmt: skip
    """The sweep's points (K, 5) float32, labels (K,) and instances (K,) from the static hits (``dist``,
    voxel ``index``) and box hits (``d_box``, ``box``) of its N rays: the nearer hit wins (a box's
    intensity is its class reflectivity head-on), returns on the ego body (box ``lo``..``hi``, ego frame)
    are dropped."""
    n = dist.shape[0]
    points = np.empty((n, 5), np.float32)
    label = np.empty(n, np.uint8)
    instance = np.empty(n, np.int32)
    body = ego_body(ego_from_sensor, lo, hi)
    k = 0
    for i in range(n):
        d, lab, inst, inten = dist[i], np.uint8(0), np.int32(-1), np.float32(0.0)
        if index[i] >= 0:
            lab, inten = vox_label[index[i]], vox_intensity[index[i]]
        b = box[i]
        if b >= 0 and d_box[i] < d:
            d, lab, inst = d_box[i], box_label[b], box_inst[b]
            inten = return_intensity(table[lab], 1.0)  # head-on
        if not np.isfinite(d):
            continue
        p0, p1, p2 = dirs_sensor[i, 0] * d, dirs_sensor[i, 1] * d, dirs_sensor[i, 2] * d
        if on_ego_body(p0, p1, p2, body):
            continue
        points[k, 0], points[k, 1], points[k, 2], points[k, 3], points[k, 4] = p0, p1, p2, inten, ring[i]
        label[k], instance[k] = lab, inst
        k += 1
    return points[:k], label[:k], instance[:k]


class ReconstructedWorld(TrackedWorld):
    """World of a real log: static voxels + annotated boxes (see the module docstring)."""

    def __init__(
        self,
        static: StaticVoxels,
        tracks: Sequence[AgentTrack],
        ego_from_lidar: Pose,
        config: ReconstructionConfig | None = None,
        name: str = "reconstructed",
    ) -> None:
        self.static = static
        self.config = config or ReconstructionConfig()
        self.name = name
        self.ego_from_lidar = ego_from_lidar
        self._rig = SensorRig(lidar=self.config.lidar)
        self.tracks = tuple(tracks)
        self._tracks = AgentTracks(self.tracks)
        self._dirs_sensor, self._ring = self.config.lidar.ray_directions()
        self._sectors = SectorIndex.of(self._dirs_sensor)
        self._tiles = TiledPoints.build(static.centers_m(), GENERAL_TO_OCC3D[static.label], self.config.tile_m)

    @classmethod
    def from_points(
        cls,
        points_world_m: np.ndarray,
        label: np.ndarray,
        intensity_: np.ndarray,
        scenario: Scenario,
        config: ReconstructionConfig | None = None,
    ) -> ReconstructedWorld:
        """Build from aggregated static world points (P, 3) with lidarseg general labels and intensities;
        the grid covers the log's ego path grown by ``crop_m``; agents and calibration from ``scenario``."""
        cfg = config or ReconstructionConfig()
        ego = np.array([f.world_from_ego.translation_m for f in scenario.frames])
        lo = np.r_[ego[:, :2].min(axis=0) - cfg.crop_m, ego[:, 2].mean() + cfg.z_min_m]
        shape_xy = tuple(int(v) for v in np.ceil((ego[:, :2].max(axis=0) + cfg.crop_m - lo[:2]) / cfg.voxel_size_m))
        static = StaticVoxels.from_points(points_world_m, label, intensity_, lo, shape_xy, cfg.voxel_size_m)
        return cls(static, tracks_from_scenario(scenario), scenario.frames[0].ego_from_lidar, cfg, scenario.name)

    @classmethod
    def from_source(
        cls, source, scenario: Scenario, exclude_frames: Iterable[int] = (), config: ReconstructionConfig | None = None
    ) -> ReconstructedWorld:
        """Aggregate the log's LiDAR through ``source`` (an ``occplan.data.NuScenesSource``); keyframes
        whose ``index`` is in ``exclude_frames`` contribute no points (their boxes still do)."""
        cfg = config or ReconstructionConfig()
        points, label, intensities = static_points(source, scenario, exclude_frames, cfg)
        return cls.from_points(points, label, intensities, scenario, cfg)

    # --- rays ----------------------------------------------------------------------------
    def _cast(self, origins_m, directions, boxes: BoxSet, max_range_m: float):
        """(distance (N,), label (N,) uint8, instance (N,) int32, intensity (N,) float32)."""
        origins_m = np.atleast_2d(np.asarray(origins_m, np.float64))
        directions = np.asarray(directions, np.float64)
        dist, index = self.static.cast(origins_m, directions, max_range_m, self.config.min_range_m)
        hit = index >= 0
        label = np.zeros(len(dist), np.uint8)
        label[hit] = self.static.label[index[hit]]
        inten = np.zeros(len(dist), np.float32)
        inten[hit] = self.static.intensity[index[hit]]
        instance = np.full(len(dist), -1, np.int32)
        if len(boxes):
            d_box, box, _ = cast_boxes(boxes, origins_m, directions, max_range_m)
            hb = d_box < dist
            dist = np.where(hb, d_box, dist)
            label[hb] = boxes.label[box[hb]]
            instance[hb] = boxes.instance[box[hb]]
            inten[hb] = head_on_intensity(label[hb])
        return dist, label, instance, inten

    def cast_rays(
        self,
        origins_m: np.ndarray,
        directions: np.ndarray,
        time_us: int,
        max_range_m: float = 100.0,
        agents: Sequence[AgentBox] | None = None,
    ) -> RayHits:
        dist, label, instance, _ = self._cast(origins_m, directions, self._boxes(time_us, agents), max_range_m)
        return RayHits(dist.astype(np.float32), label, instance)

    def lidar_scan(self, world_from_ego: Pose, time_us: int, agents: Sequence[AgentBox] | None = None) -> LidarScan:
        """LIDAR_TOP sweep at the log's calibration: (N, 5) float32 x y z intensity ring, sensor frame."""
        world_from_lidar = world_from_ego @ self.ego_from_lidar
        origin = world_from_lidar.translation_m[None]
        dirs_world = world_from_lidar.transform_vectors(self._dirs_sensor)
        max_range = self.config.lidar.max_range_m
        dist, index = self.static.cast(origin, dirs_world, max_range, self.config.min_range_m)
        boxes = self._boxes(time_us, agents)
        d_box, box, _ = cast_boxes(boxes, origin, dirs_world, max_range, (self._sectors, world_from_lidar))
        lo, hi = self._rig.ego_box()
        points, label, instance = _sweep(
            dist, index, self.static.label, self.static.intensity, d_box, box, boxes.label, boxes.instance,
            self._dirs_sensor, self._ring, self.ego_from_lidar.matrix, lo, hi, REFLECTIVITY,
        )  # fmt: skip
        return LidarScan(points, label, instance)

    # --- ground truth --------------------------------------------------------------------
    def occupancy(
        self,
        world_from_ego: Pose,
        time_us: int,
        grid: GridSpec,
        agents: Sequence[AgentBox] | None = None,
        with_masks: bool = True,
    ) -> OccupancyFrame:
        """Occ3D semantics + flow (grid frame, m/s) at the pose; masks are not reconstructed (None)."""
        labels = LabelSet.occ3d()
        world_from_grid = world_from_ego if grid.frame == "ego" else world_from_ego @ self.ego_from_lidar
        grid_from_world = world_from_grid.inverse()
        semantics = np.full(grid.shape, labels.free_index, np.uint8)
        flow = np.zeros((*grid.shape, 2), np.float32)
        self._tiles.voxelise(grid_from_world, grid, semantics)
        voxelise_boxes(self._boxes(time_us, agents), grid_from_world, grid, semantics, flow)
        return OccupancyFrame(
            semantics, grid, labels, flow, None, None, world_from_grid, int(time_us), f"reconstructed:{self.name}"
        )
