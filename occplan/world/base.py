"""The World: static geometry plus agent tracks, queried at any ego pose and time.

Two implementations share this interface: the exact world of a generated scene
(``occplan.world.generated``) and the world reconstructed from a real nuScenes log
(``occplan.world.reconstructed``). The simulator re-casts LiDAR, re-renders cameras and computes
ground-truth occupancy through it, so occupancy metrics stay meaningful when the ego leaves the log.

Frames: inputs and outputs are in the world frame unless a method says "ego"; ``world_from_ego``
is the ego pose (rear axle, nuScenes ego_pose convention).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyFrame, Pose
from occplan.world.spec import AgentTrack


@dataclass(frozen=True)
class RayHits:
    """Result of a batch of ray queries, N rays.

    ``distance_m`` (N,) float32, inf where nothing was hit within range; ``label`` (N,) uint8
    nuScenes-lidarseg general class (0 = noise where nothing was hit); ``instance`` (N,) int32 index
    into ``World.agent_ids`` for agent hits, -1 for static geometry or no hit.
    """

    distance_m: np.ndarray
    label: np.ndarray
    instance: np.ndarray


@dataclass(frozen=True)
class LidarScan:
    """One simulated LIDAR_TOP sweep.

    ``points_sensor`` (N, 5) float32 x, y, z, intensity, ring in the LiDAR sensor frame (as written to
    ``.pcd.bin``); ``labels`` (N,) uint8 lidarseg general classes; ``instance`` (N,) int32 as in
    RayHits. Returns from the ego vehicle itself are removed.
    """

    points_sensor: np.ndarray
    labels: np.ndarray
    instance: np.ndarray


class World(ABC):
    """Queries against one scene's geometry at time ``time_us``.

    ``agents`` arguments override the logged agent tracks (world-frame boxes, e.g. from reactive IDM
    agents); when None the world uses its own tracks at ``time_us``.
    """

    renders_cameras: bool = False
    """Whether ``render_cameras`` can render camera images at any pose (generated worlds); a world that
    cannot (a real log's) leaves camera models with the logged images, taken at the logged pose."""

    @property
    @abstractmethod
    def agent_ids(self) -> tuple[str, ...]:
        """Instance tokens of the world's agents (index = RayHits.instance)."""

    @abstractmethod
    def agent_boxes(self, time_us: int) -> tuple[AgentBox, ...]:
        """World-frame boxes of the agents present at ``time_us`` (velocity in world frame)."""

    def agent_tracks(self) -> tuple[AgentTrack, ...] | None:
        """The tracks the world's agents follow (world frame), or None for a world that only answers
        ``agent_boxes`` (callers then sample ``agent_boxes`` at the times they need)."""
        return None

    @abstractmethod
    def cast_rays(
        self,
        origins_m: np.ndarray,
        directions: np.ndarray,
        time_us: int,
        max_range_m: float = 100.0,
        agents: Sequence[AgentBox] | None = None,
    ) -> RayHits:
        """Cast N rays (origins (N, 3) or (3,), unit directions (N, 3), world frame)."""

    @abstractmethod
    def lidar_scan(self, world_from_ego: Pose, time_us: int, agents: Sequence[AgentBox] | None = None) -> LidarScan:
        """A LIDAR_TOP sweep from the ego pose (sensor calibration is part of the world)."""

    @abstractmethod
    def occupancy(
        self,
        world_from_ego: Pose,
        time_us: int,
        grid: GridSpec,
        agents: Sequence[AgentBox] | None = None,
        with_masks: bool = True,
    ) -> OccupancyFrame:
        """Ground-truth Occ3D-labelled semantics and flow (m/s, ego frame) in ``grid`` at the pose.

        Masks: with ``with_masks``, ``mask_lidar`` / ``mask_camera`` from ray casting where the world
        can compute them (None otherwise); without, None (the fast path for per-step use).
        """

    def static_semantics(self, world_from_ego: Pose, time_us: int, grid: GridSpec) -> np.ndarray:
        """(X, Y, Z) uint8 Occ3D labels of the static scene alone (no agents) in ``grid`` at the pose:
        ``occupancy(..., agents=(), with_masks=False).semantics``, which worlds may compute faster."""
        return self.occupancy(world_from_ego, time_us, grid, agents=(), with_masks=False).semantics

    def static_classes_within(self, world_from_ego: Pose, time_us: int, grid: GridSpec) -> np.ndarray:
        """(C,) bool over the Occ3D classes, True at least for every class that ``static_semantics`` with
        the same arguments holds: a cheap superset that lets a caller skip the voxelisation (here every
        occupied class; worlds that can tell faster narrow it, e.g. from the faces near the grid)."""
        labels = LabelSet.occ3d()
        present = np.ones(labels.num_classes, np.bool_)
        present[labels.free_index] = False
        return present

    def render_cameras(
        self,
        world_from_ego: Pose,
        time_us: int,
        channels: Sequence[str],
        agents: Sequence[AgentBox] | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per channel: (RGB (H, W, 3) uint8, semantic (H, W) uint8 lidarseg general). Generated worlds only.

        ``width`` x ``height`` pixels (default: the world's rig resolution); intrinsics scale with it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot render cameras (renders_cameras is False)")
