"""Ray casting against a generated world: the static mesh through Embree (the library bundled by
embreex, trimesh's ray backend; see ``StaticScene``) and the agents as oriented boxes (analytic slab
test, numba); the nearest hit wins. Everything here is in the world frame. The numba kernels are in
``occplan.world.ray_kernels``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from occplan.errors import ValidationError
from occplan.types import Pose
from occplan.world.embree_packets import PacketScene
from occplan.world.ray_kernels import (
    cast_boxes_by_sector,
    cast_boxes_per_ray,
    hit_attributes,
    nearest_hits,
)
from occplan.world.spec import StaticMesh


@dataclass(frozen=True)
class BoxSet:
    """M oriented boxes (yaw only) in the world frame, as flat arrays for the numba kernels.

    ``center_m`` (M, 3); ``half_extent_m`` (M, 3) half (length, width, height) along the box's own
    x (heading), y, z axes; ``yaw_rad`` (M,); ``velocity_mps`` (M, 2) world frame; ``label`` (M,)
    uint8 lidarseg general; ``instance`` (M,) int32 index into the world's agent ids; ``rgb`` (M, 3) uint8.
    """

    center_m: np.ndarray
    half_extent_m: np.ndarray
    yaw_rad: np.ndarray
    velocity_mps: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    rgb: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw_rad)

    @property
    def radius_m(self) -> np.ndarray:
        """(M,) radius of each box's bounding sphere."""
        return np.linalg.norm(self.half_extent_m, axis=1)

    @classmethod
    def empty(cls) -> BoxSet:
        z3 = np.zeros((0, 3))
        return cls(
            z3,
            z3,
            np.zeros(0),
            np.zeros((0, 2)),
            np.zeros(0, np.uint8),
            np.zeros(0, np.int32),
            np.zeros((0, 3), np.uint8),
        )


@dataclass(frozen=True)
class SurfaceHits:
    """Nearest surface along N rays.

    ``distance_m`` (N,) float64 (inf = no hit within range); ``label`` (N,) uint8 lidarseg general
    (0 on a miss); ``instance`` (N,) int32 agent index (-1 static or miss); ``normal`` (N, 3) float32
    unit surface normal facing the ray origin (0 on a miss); ``rgb`` (N, 3) uint8 albedo.
    """

    distance_m: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    normal: np.ndarray
    rgb: np.ndarray


class StaticScene:
    """The static mesh of a world in an Embree BVH (single precision, vertices stored relative to the
    mesh's minimum corner to keep float32 precision); built once per scene. Rays are traced in
    packets of 8 through the Embree library bundled with embreex (``embree_packets``); where that
    library cannot be located, or with ``packets=False``, through embreex's single-ray ``run``."""

    def __init__(self, mesh: StaticMesh, packets: bool = True) -> None:
        if len(mesh.faces) == 0:
            raise ValidationError("StaticMesh.faces: the static mesh has no faces")
        if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices_m):
            raise ValidationError(f"StaticMesh.faces: vertex index outside [0, {len(mesh.vertices_m)})")
        self.mesh = mesh
        self.origin_m = mesh.vertices_m.min(axis=0)
        vertices = (mesh.vertices_m - self.origin_m).astype(np.float32)
        self._packets: PacketScene | None = None
        try:
            self._packets = PacketScene(vertices, mesh.faces) if packets else None
        except ImportError as e:
            warnings.warn(f"StaticScene: {e}; using embreex's single-ray path (slower)", stacklevel=2)
        if self._packets is None:
            self._embree = rtcore_scene.EmbreeScene()
            TriangleMesh(self._embree, vertices, mesh.faces)
        tri = mesh.vertices_m[mesh.faces]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(normals, axis=1, keepdims=True)
        self.face_normal = normals / np.where(norm > 0, norm, 1.0)  # (F, 3) float64, unit

    def cast(self, origins_m: np.ndarray, directions: np.ndarray, max_range_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Nearest static hit of N rays (origins (N, 3) or one shared (1, 3), unit directions (N, 3), world frame):
        (distance (N,) float64, inf on a miss or beyond ``max_range_m``; face index (N,) int32, -1)."""
        origins = (np.asarray(origins_m, np.float64) - self.origin_m).astype(np.float32)
        if self._packets is not None:
            return self._packets.cast(origins, directions, max_range_m)
        dirs = np.asarray(directions, np.float32)
        far = np.full(len(dirs), max_range_m, np.float32)  # Embree prunes the BVH beyond the range
        res = self._embree.run(np.broadcast_to(origins, (len(dirs), 3)), dirs, dists=far, output=1)
        face = res["primID"].astype(np.int32)
        dist = res["tfar"].astype(np.float64)
        miss = (face < 0) | ~(dist <= max_range_m)
        face[miss] = -1
        dist[miss] = np.inf
        return dist, face


_AZIMUTH_BINS = 720


def azimuth_bins(directions: np.ndarray) -> np.ndarray:
    """(N,) int64 azimuth sector (about the frame's z axis) of N unit ray directions (N, 3): the box
    caster's candidate lists are per sector."""
    width = 2 * np.pi / _AZIMUTH_BINS
    ray_bin = np.floor((np.arctan2(directions[:, 1], directions[:, 0]) + np.pi) / width).astype(np.int64)
    return ray_bin % _AZIMUTH_BINS


@dataclass(frozen=True)
class SectorIndex:
    """The rays of each azimuth sector (``azimuth_bins``) of a fixed ray pattern (e.g. a LiDAR's, in
    its sensor frame): ``rays[start[b]:start[b + 1]]`` ascending (``start`` (B + 1,) int64, ``rays``
    (N,) int64)."""

    start: np.ndarray
    rays: np.ndarray

    @classmethod
    def of(cls, directions: np.ndarray) -> SectorIndex:
        """The index of N unit directions (N, 3)."""
        ray_bin = azimuth_bins(np.asarray(directions, np.float64))
        start = np.concatenate([[0], np.cumsum(np.bincount(ray_bin, minlength=_AZIMUTH_BINS))]).astype(np.int64)
        return cls(start, np.argsort(ray_bin, kind="stable").astype(np.int64))


def _box_sectors(boxes: BoxSet, rel_m: np.ndarray, max_range_m: float) -> tuple[np.ndarray, np.ndarray]:
    """The azimuth sectors each box may be hit in, from the box centres relative to the shared ray
    origin ``rel_m`` (M, 3) in the frame of the sectors: (first sector (M,) int64, number of sectors
    (M,) int64, counted on from the first modulo ``_AZIMUTH_BINS``).

    A ray can only meet a box whose bounding sphere, seen from above, lies within
    ``asin(radius / horizontal distance)`` of the ray's azimuth (spheres over the origin fall in
    every sector); boxes out of range get none. The test holds in any rotated frame.
    """
    width = 2 * np.pi / _AZIMUTH_BINS
    radius = boxes.radius_m
    horizontal = np.hypot(rel_m[:, 0], rel_m[:, 1])
    centre = np.arctan2(rel_m[:, 1], rel_m[:, 0]) + np.pi
    half = np.arcsin(np.clip(radius / np.maximum(horizontal, 1e-9), 0.0, 1.0))
    lo = np.floor((centre - half) / width).astype(np.int64)
    span = np.floor((centre + half) / width).astype(np.int64) - lo + 1
    span[horizontal <= radius] = _AZIMUTH_BINS
    span = np.minimum(span, _AZIMUTH_BINS)
    span[np.linalg.norm(rel_m, axis=1) - radius > max_range_m] = 0
    return lo % _AZIMUTH_BINS, span


def _box_candidates(boxes: BoxSet, rel_m: np.ndarray, max_range_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate boxes per azimuth sector (``_box_sectors``): (bin_start (B + 1,) int64, boxes (K,)
    int32); the candidates of sector b are ``boxes[bin_start[b]:bin_start[b + 1]]``, ascending."""
    lo, span = _box_sectors(boxes, rel_m, max_range_m)
    box = np.repeat(np.arange(len(boxes), dtype=np.int32), span)
    offset = np.arange(len(box)) - np.repeat(np.cumsum(span) - span, span)
    bins = (np.repeat(lo, span) + offset) % _AZIMUTH_BINS
    order = np.argsort(bins, kind="stable")
    bin_start = np.concatenate([[0], np.cumsum(np.bincount(bins, minlength=_AZIMUTH_BINS))]).astype(np.int64)
    return bin_start, box[order]


def cast_boxes(
    boxes: BoxSet,
    origins_m: np.ndarray,
    directions: np.ndarray,
    max_range_m: float,
    sectors: tuple[SectorIndex, Pose] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest entry of N rays (origins (N, 3) or (1, 3), unit directions (N, 3), world frame) into
    the boxes within ``max_range_m``: (distance (N,) float64, inf on a miss; box index (N,) int32, -1;
    signed box axis 1..3 of the entered face's normal (N,) int8).

    ``sectors``: for a fixed ray pattern cast from one origin, the rays' ``SectorIndex`` precomputed
    in a sensor frame and world_from_sensor, instead of azimuth sectors computed in the world frame.
    """
    origins_m = np.ascontiguousarray(np.atleast_2d(origins_m), np.float64)
    directions = np.ascontiguousarray(directions, np.float64)
    n, m = len(directions), len(boxes)
    if m and len(origins_m) == 1 and sectors is not None:
        index, world_from_sensor = sectors
        rel = (boxes.center_m - origins_m[0]) @ world_from_sensor.rotation  # sensor_from_world rotation
        lo, span = _box_sectors(boxes, rel, max_range_m)
        return cast_boxes_by_sector(
            origins_m[0], directions, boxes.center_m, boxes.half_extent_m, boxes.radius_m, boxes.yaw_rad,
            float(max_range_m), lo, span, index.start, index.rays,
        )  # fmt: skip
    if len(origins_m) != 1 or m == 0:  # one candidate list holding every box
        ray_bin, bin_start, candidates = np.zeros(n, np.int64), np.array([0, m], np.int64), np.arange(m, dtype=np.int32)
    else:
        ray_bin = azimuth_bins(directions)
        bin_start, candidates = _box_candidates(boxes, boxes.center_m - origins_m[0], max_range_m)
    return cast_boxes_per_ray(
        origins_m,
        directions,
        boxes.center_m,
        boxes.half_extent_m,
        boxes.radius_m,
        boxes.yaw_rad,
        float(max_range_m),
        ray_bin,
        bin_start,
        candidates,
    )


@dataclass(frozen=True)
class CastHits:
    """The hits of N rays on the static mesh and on the boxes, before the nearest is picked (world
    frame): ``static_distance_m`` (N,) float64 and ``face`` (N,) int32 (inf / -1 on a miss, see
    ``StaticScene.cast``); ``box_distance_m``, ``box`` and ``box_axis`` as returned by ``cast_boxes``;
    the ``scene`` and ``boxes`` cast against."""

    static_distance_m: np.ndarray
    face: np.ndarray
    box_distance_m: np.ndarray
    box: np.ndarray
    box_axis: np.ndarray
    scene: StaticScene
    boxes: BoxSet


@dataclass(frozen=True)
class NearestHits:
    """The nearest hit of N rays among the static mesh and the boxes: ``distance_m`` (N,) float64
    (inf = no hit within range); ``box`` (N,) int32 index into ``boxes`` and ``face`` (N,) int32 index
    into the scene's faces (-1 where the ray hit the other kind or nothing); ``normal`` (N, 3)
    float32 unit surface normal facing the ray origin (0 on a miss); the ``scene`` and ``boxes`` cast
    against. World frame."""

    distance_m: np.ndarray
    box: np.ndarray
    face: np.ndarray
    normal: np.ndarray
    scene: StaticScene
    boxes: BoxSet


def cast_both(
    scene: StaticScene,
    boxes: BoxSet,
    origins_m: np.ndarray,
    directions: np.ndarray,
    max_range_m: float,
    sectors: tuple[SectorIndex, Pose] | None = None,
) -> CastHits:
    """Cast N rays (origins (N, 3) or (1, 3), unit directions (N, 3), world frame) against the static
    mesh and against the boxes, within ``max_range_m`` (``sectors`` as in ``cast_boxes``)."""
    origins_m = np.atleast_2d(np.asarray(origins_m, np.float64))
    directions = np.ascontiguousarray(directions, np.float64)
    if directions.ndim != 2 or directions.shape[1] != 3 or origins_m.shape != (len(origins_m), 3):
        raise ValidationError(f"cast_rays: directions {directions.shape} and origins {origins_m.shape} must be (N, 3)")
    if len(origins_m) not in (1, len(directions)):
        raise ValidationError(f"cast_rays: {len(origins_m)} origins for {len(directions)} rays (need 1 or N)")
    d_static, face = scene.cast(origins_m, directions, max_range_m)
    d_box, box, axis = cast_boxes(boxes, origins_m, directions, max_range_m, sectors)
    return CastHits(d_static, face, d_box, box, axis, scene, boxes)


def cast_nearest(
    scene: StaticScene, boxes: BoxSet, origins_m: np.ndarray, directions: np.ndarray, max_range_m: float
) -> NearestHits:
    """The nearest hit of N rays (``cast_both``)."""
    directions = np.ascontiguousarray(directions, np.float64)
    hits = cast_both(scene, boxes, origins_m, directions, max_range_m)
    nearest = nearest_hits(
        directions, hits.static_distance_m, hits.face, scene.face_normal, hits.box_distance_m, hits.box,
        hits.box_axis, boxes.yaw_rad,
    )  # fmt: skip
    return NearestHits(*nearest, scene, boxes)


def cast_world(
    scene: StaticScene, boxes: BoxSet, origins_m: np.ndarray, directions: np.ndarray, max_range_m: float
) -> SurfaceHits:
    """Nearest hit among the static mesh and the boxes for N rays (origins (N, 3) or (1, 3), unit dirs (N, 3))."""
    hits = cast_nearest(scene, boxes, origins_m, directions, max_range_m)
    mesh = scene.mesh
    label, instance, rgb = hit_attributes(
        hits.box, hits.face, mesh.face_label, mesh.face_rgb, boxes.label, boxes.instance, boxes.rgb
    )
    return SurfaceHits(hits.distance_m, label, instance, hits.normal, rgb)
