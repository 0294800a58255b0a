"""``GeneratedWorld``: the exact world of a generated scene (a ``WorldSpec``) answering LiDAR, camera
and ground-truth occupancy queries at any ego pose and time.

Model choices (documented once here):

- A LiDAR sweep is cast at one instant and one pose (no rolling shutter); rays that hit nothing give
  no point; returns inside the ego body are dropped. No randomness: re-simulating at a logged pose
  reproduces the written sweep bit for bit.
- ``mask_lidar`` follows Occ3D (voxels a LiDAR ray passes through or ends in): it accumulates the
  keyframe sweep and the sweeps ``OccupancyConfig.mask_lidar_sweep_offsets`` (20 Hz sweep indices)
  around it. Their poses are the logged ego motion relative to the keyframe, applied to the queried
  pose, so at a logged pose they are the logged sweeps; all are cast against the agents at the
  keyframe time (the semantics' time). Only rays with a return count.
- ``mask_camera``: LiDAR-observed voxels (``mask_lidar``) that camera rays of the six cameras pass
  through or end in (rays at ``OccupancyConfig.mask_camera_size_px``, whose angular spacing is
  finer than a voxel at the grid's edge; up to the LiDAR range where they see the sky). As in
  Occ3D, voxels seen by the LiDAR but not by the cameras are camera-unobserved, so
  mask_camera is a subset of mask_lidar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyFrame, Pose, wrap_angle
from occplan.world.base import LidarScan, RayHits
from occplan.world.camera import ShadingConfig, pixel_rays, shade
from occplan.world.lidar import LidarReturns, lidar_returns
from occplan.world.occupancy_gt import SurfaceLattice, VoteScratch, grid_world_box, voxelise_boxes, voxelise_static
from occplan.world.raycast import BoxSet, SectorIndex, StaticScene, SurfaceHits, cast_both, cast_world
from occplan.world.rig import SensorRig
from occplan.world.spec import WorldSpec
from occplan.world.spec_io import load_world
from occplan.world.tracks import AgentTracks, TrackedWorld
from occplan.world.voxel_traversal import mark_segments

SENSOR_MODEL_VERSION = 2
"""Bumped whenever sensor or ground-truth outputs change for the same WorldSpec (cached datasets
written by an older model must be regenerated)."""
_BOX_PAD_M = 1e-6


@dataclass(frozen=True)
class OccupancyConfig:
    """Ground-truth computation: surface sampling spacing (half the Occ3D voxel: a face crossing a voxel
    casts about four votes in it) and the visibility masks' ray sets."""

    surface_spacing_m: float = 0.2
    mask_lidar_sweep_offsets: tuple[int, ...] = (-10, -5, 0, 5, 10)
    mask_camera_size_px: tuple[int, int] = (200, 112)


@dataclass(frozen=True)
class GeneratedWorldConfig:
    """Ground-truth and camera-shading settings of a GeneratedWorld (the sensors are the ``SensorRig``)."""

    occupancy: OccupancyConfig = field(default_factory=OccupancyConfig)
    shading: ShadingConfig = field(default_factory=ShadingConfig)


class GeneratedWorld(TrackedWorld):
    """World of a generated scene. Static mesh: Embree; agents: oriented boxes (numba); caches the
    BVH, the LiDAR ray pattern, camera pixel rays, the static faces' sampling lattices and a vote
    buffer per grid shape (X * Y * Z * 26 bytes)."""

    renders_cameras = True

    def __init__(
        self, spec: WorldSpec, rig: SensorRig | None = None, config: GeneratedWorldConfig | None = None
    ) -> None:
        self.spec = spec
        self.rig = rig or SensorRig.nuscenes()
        self.config = config or GeneratedWorldConfig()
        self._scene = StaticScene(spec.static)
        self._tracks = AgentTracks(spec.agents)
        self._lidar_dirs_sensor, self._lidar_ring = self.rig.lidar.ray_directions()
        self._lidar_sectors = SectorIndex.of(self._lidar_dirs_sensor)
        self._ego_box = self.rig.ego_box()
        self._pixel_rays: dict[tuple[str, int, int], np.ndarray] = {}
        self._vote_scratch: dict[tuple[int, int, int], VoteScratch] = {}

    @classmethod
    def from_dataroot(
        cls,
        dataroot: str | Path,
        scene_name: str,
        rig: SensorRig | None = None,
        config: GeneratedWorldConfig | None = None,
    ) -> GeneratedWorld:
        """Load ``<dataroot>/occplan_worlds/<scene_name>/`` (written by ``occplan.world.spec_io``)."""
        return cls(load_world(Path(dataroot) / "occplan_worlds" / scene_name), rig, config)

    def logged_world_from_ego(self, time_us: int) -> Pose:
        """The expert ego pose at ``time_us`` (linear interpolation of the ego track, clamped to its span)."""
        ego = self.spec.ego
        t = np.clip(time_us, ego.times_us[0], ego.times_us[-1])
        j = int(np.clip(np.searchsorted(ego.times_us, t, side="right") - 1, 0, len(ego.times_us) - 2))
        a = float(np.clip((t - ego.times_us[j]) / max(ego.times_us[j + 1] - ego.times_us[j], 1), 0.0, 1.0))
        xy = (1 - a) * ego.xy_m[j] + a * ego.xy_m[j + 1]
        z = (1 - a) * ego.z_m[j] + a * ego.z_m[j + 1]
        yaw = float(wrap_angle(ego.yaw_rad[j] + a * wrap_angle(ego.yaw_rad[j + 1] - ego.yaw_rad[j])))
        return Pose.from_xy_yaw(float(xy[0]), float(xy[1]), yaw, float(z))

    # --- rays ----------------------------------------------------------------------------
    def cast_rays(
        self,
        origins_m: np.ndarray,
        directions: np.ndarray,
        time_us: int,
        max_range_m: float = 100.0,
        agents: Sequence[AgentBox] | None = None,
    ) -> RayHits:
        hits = cast_world(self._scene, self._boxes(time_us, agents), origins_m, directions, max_range_m)
        return RayHits(hits.distance_m.astype(np.float32), hits.label, hits.instance)

    def _cast_lidar(self, world_from_ego: Pose, boxes: BoxSet) -> tuple[LidarReturns, np.ndarray, Pose]:
        """One sweep from ``world_from_ego``: its returns, the world direction (N, 3) of every ray,
        world_from_lidar."""
        ego_from_lidar = self.rig.ego_from_lidar()
        world_from_lidar = world_from_ego @ ego_from_lidar
        dirs_world = world_from_lidar.transform_vectors(self._lidar_dirs_sensor)
        origin = world_from_lidar.translation_m[None]
        sectors = (self._lidar_sectors, world_from_lidar)
        hits = cast_both(self._scene, boxes, origin, dirs_world, self.rig.lidar.max_range_m, sectors)
        returns = lidar_returns(
            hits, self._lidar_dirs_sensor, self._lidar_ring, world_from_lidar, ego_from_lidar, self._ego_box
        )
        return returns, dirs_world, world_from_lidar

    def lidar_scan(self, world_from_ego: Pose, time_us: int, agents: Sequence[AgentBox] | None = None) -> LidarScan:
        """LIDAR_TOP sweep: (N, 5) float32 x y z intensity ring in the sensor frame, general labels, instance."""
        returns, _, _ = self._cast_lidar(world_from_ego, self._boxes(time_us, agents))
        return LidarScan(returns.points, returns.label, returns.instance)

    # --- cameras -------------------------------------------------------------------------
    def _camera_cast(
        self, channel: str, width_px: int, height_px: int, world_from_ego: Pose, boxes: BoxSet, max_range_m: float
    ) -> tuple[SurfaceHits, np.ndarray, np.ndarray]:
        """Hits of all pixel rays of one camera (row-major), its world origin (1, 3) and ray directions (N, 3)."""
        key = (channel, width_px, height_px)
        if key not in self._pixel_rays:
            self._pixel_rays[key] = pixel_rays(self.rig.intrinsics(channel, width_px, height_px), width_px, height_px)
        world_from_cam = world_from_ego @ self.rig.ego_from_cam(channel)
        dirs = world_from_cam.transform_vectors(self._pixel_rays[key])
        origin = world_from_cam.translation_m[None]
        return cast_world(self._scene, boxes, origin, dirs, max_range_m), origin, dirs

    def render_cameras(
        self,
        world_from_ego: Pose,
        time_us: int,
        channels: Sequence[str],
        agents: Sequence[AgentBox] | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per channel: (RGB (H, W, 3) uint8, semantic (H, W) uint8 lidarseg general, 0 = sky).

        Resolution defaults to the rig's (800x450); intrinsics scale with it (``rig.intrinsics``).
        """
        w, h = width or self.rig.camera_width_px, height or self.rig.camera_height_px
        boxes = self._boxes(time_us, agents)
        out = {}
        for ch in channels:
            hits, origin, dirs = self._camera_cast(ch, w, h, world_from_ego, boxes, self.rig.lidar.max_range_m * 2)
            rgb = shade(hits, origin, dirs, self.config.shading).reshape(h, w, 3)
            out[ch] = (rgb, hits.label.reshape(h, w))
        return out

    # --- ground truth --------------------------------------------------------------------
    @cached_property
    def surface_lattice(self) -> SurfaceLattice:
        """The static faces' sampling lattices (computed on first use, then cached)."""
        return SurfaceLattice.from_mesh(self.spec.static, self.config.occupancy.surface_spacing_m)

    def _world_from_grid(self, world_from_ego: Pose, grid: GridSpec) -> Pose:
        return world_from_ego if grid.frame == "ego" else world_from_ego @ self.rig.ego_from_lidar()

    def _grid_from_world(self, world_from_ego: Pose, grid: GridSpec) -> Pose:
        return self._world_from_grid(world_from_ego, grid).inverse()

    def occupancy(
        self,
        world_from_ego: Pose,
        time_us: int,
        grid: GridSpec,
        agents: Sequence[AgentBox] | None = None,
        with_masks: bool = True,
    ) -> OccupancyFrame:
        """Occ3D-labelled semantics + flow (grid frame, m/s) at the pose; masks by ray casting unless
        ``with_masks=False`` (the simulator's per-step fast path)."""
        labels = LabelSet.occ3d()
        grid_from_world = self._grid_from_world(world_from_ego, grid)
        boxes = self._boxes(time_us, agents)
        semantics = self._static(grid_from_world, grid)
        flow = np.zeros((*grid.shape, 2), np.float32)
        voxelise_boxes(boxes, grid_from_world, grid, semantics, flow)
        mask_lidar = mask_camera = None
        if with_masks:
            mask_lidar = self._mask_lidar(world_from_ego, int(time_us), boxes, grid_from_world, grid)
            mask_camera = self._camera_visible(world_from_ego, boxes, grid_from_world, grid) & mask_lidar
        return OccupancyFrame(
            semantics=semantics,
            grid=grid,
            labels=labels,
            flow=flow,
            mask_lidar=mask_lidar,
            mask_camera=mask_camera,
            world_from_grid=grid_from_world.inverse(),
            time_us=int(time_us),
            source=f"generated:{self.spec.scene_name}",
        )

    def static_semantics(self, world_from_ego: Pose, time_us: int, grid: GridSpec) -> np.ndarray:
        return self._static(self._grid_from_world(world_from_ego, grid), grid)

    def static_classes_within(self, world_from_ego: Pose, time_us: int, grid: GridSpec) -> np.ndarray:
        """The classes of the static faces whose bounding box meets the grid's (the faces that
        ``static_semantics`` samples, in a box padded by ``_BOX_PAD_M`` against the rounding of the
        pose's inverse there): a superset of its classes, without voxelising."""
        lo, hi = grid_world_box(self._world_from_grid(world_from_ego, grid), grid)
        lo, hi = lo - _BOX_PAD_M, hi + _BOX_PAD_M
        labels = LabelSet.occ3d()
        present = np.zeros(labels.num_classes, np.bool_)
        lattice = self.surface_lattice
        present[lattice.label[lattice.buckets.faces_in_box(lo, hi)]] = True
        present[labels.free_index] = False
        return present

    def _static(self, grid_from_world: Pose, grid: GridSpec) -> np.ndarray:
        """(X, Y, Z) uint8 Occ3D labels of the static faces' lattice votes (free elsewhere)."""
        semantics = np.full(grid.shape, LabelSet.occ3d().free_index, np.uint8)
        if grid.shape not in self._vote_scratch:
            self._vote_scratch[grid.shape] = VoteScratch.for_grid(grid)
        voxelise_static(self.surface_lattice, grid_from_world, grid, semantics, self._vote_scratch[grid.shape])
        return semantics

    def _mask_lidar(
        self, world_from_ego: Pose, time_us: int, boxes: BoxSet, grid_from_world: Pose, grid: GridSpec
    ) -> np.ndarray:
        mask = np.zeros(grid.shape, np.bool_)
        sweep_us = round(1e6 / self.rig.lidar.sweep_rate_hz)
        log_ego_from_world = self.logged_world_from_ego(time_us).inverse()
        for k in self.config.occupancy.mask_lidar_sweep_offsets:
            pose = world_from_ego @ log_ego_from_world @ self.logged_world_from_ego(time_us + k * sweep_us)
            returns, dirs_world, world_from_lidar = self._cast_lidar(pose, boxes)
            ends = world_from_lidar.translation_m + dirs_world[returns.ray] * returns.distance_m[returns.ray, None]
            start = grid_from_world.transform_points(world_from_lidar.translation_m[None])
            mark_segments(start, grid_from_world.transform_points(ends), grid, mask)
        return mask

    def _camera_visible(self, world_from_ego: Pose, boxes: BoxSet, grid_from_world: Pose, grid: GridSpec) -> np.ndarray:
        w, h = self.config.occupancy.mask_camera_size_px
        max_range = self.rig.lidar.max_range_m
        visible = np.zeros(grid.shape, np.bool_)
        for ch in self.rig.camera_channels:
            hits, origin, dirs = self._camera_cast(ch, w, h, world_from_ego, boxes, max_range)
            ends = origin + dirs * np.minimum(hits.distance_m, max_range)[:, None]
            mark_segments(
                grid_from_world.transform_points(origin), grid_from_world.transform_points(ends), grid, visible
            )
        return visible
