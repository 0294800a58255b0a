"""Ray casting against a generated world: the static mesh through Embree (the library bundled by
embreex, trimesh's ray backend; see ``StaticScene``) and the agents as oriented boxes (analytic slab
test, numba); the nearest hit wins. Everything here is in the world frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numba as nb
import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from occplan.errors import ValidationError
from occplan.types import Pose
from occplan.world.embree_packets import PacketScene
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


@nb.njit(cache=True, inline="always")
def _slab(o, d, h):  # pragma: no cover - compiled
    """Entry/exit parameters of a ray (origin o, direction d along one axis) through [-h, h]."""
    if d == 0.0:
        return (-np.inf, np.inf) if abs(o) <= h else (np.inf, -np.inf)
    t0 = (-h - o) / d
    t1 = (h - o) / d
    return (t0, t1) if t0 <= t1 else (t1, t0)


@nb.njit(cache=True, inline="always")
def _box_entry(px, py, pz, dx, dy, dz, c, s, half, radius, t_best):  # pragma: no cover - compiled
    """Entry distance of the ray (origin ``p`` relative to the box centre, direction ``d``) into a box of
    half sizes ``half`` (3,) yawed by (``c``, ``s``) = (cos, sin), and the signed axis (1..3, x, y, z of the
    box) of the entered face's normal; (inf, 0) when the ray misses it or meets it beyond ``t_best``."""
    t_mid = -(px * dx + py * dy + pz * dz)  # bounding-sphere rejection first
    if t_mid + radius < 0.0 or t_mid - radius > t_best:
        return np.inf, 0
    if px * px + py * py + pz * pz - t_mid * t_mid > radius * radius:
        return np.inf, 0
    ax0, ax1 = _slab(c * px + s * py, c * dx + s * dy, half[0])
    ay0, ay1 = _slab(-s * px + c * py, -s * dx + c * dy, half[1])
    az0, az1 = _slab(pz, dz, half[2])
    t_enter = max(ax0, ay0, az0)
    if t_enter < 0.0 or t_enter >= t_best or t_enter > min(ax1, ay1, az1):
        return np.inf, 0
    if t_enter == ax0:
        return t_enter, -1 if c * dx + s * dy > 0 else 1
    if t_enter == ay0:
        return t_enter, -2 if -s * dx + c * dy > 0 else 2
    return t_enter, -3 if dz > 0 else 3


@nb.njit(parallel=True, cache=True)
def _cast_boxes(  # pragma: no cover - compiled
    origins, dirs, centers, half, radius, yaw, max_range, ray_bin, bin_start, bin_boxes
):
    n = dirs.shape[0]
    per_ray_origin = origins.shape[0] == n
    best_t = np.full(n, np.inf)
    best_box = np.full(n, -1, np.int32)
    best_axis = np.zeros(n, np.int8)  # signed axis 1..3 (x, y, z of the box) of the entered face's normal
    cos_y = np.cos(yaw)
    sin_y = np.sin(yaw)
    for i in nb.prange(n):
        oi = np.int64(i) if per_ray_origin else np.int64(0)
        t_best = max_range
        for e in range(bin_start[ray_bin[i]], bin_start[ray_bin[i] + 1]):
            b = bin_boxes[e]
            px, py, pz = origins[oi, 0] - centers[b, 0], origins[oi, 1] - centers[b, 1], origins[oi, 2] - centers[b, 2]
            t_enter, axis = _box_entry(
                px, py, pz, dirs[i, 0], dirs[i, 1], dirs[i, 2], cos_y[b], sin_y[b], half[b], radius[b], t_best
            )
            if axis != 0:
                t_best = t_enter
                best_t[i] = t_enter
                best_box[i] = b
                best_axis[i] = axis
    return best_t, best_box, best_axis


@nb.njit(cache=True)
def box_normal(axis, yaw):  # pragma: no cover - compiled
    """World-frame unit normal (x, y, z) of the face of a box (yawed by ``yaw``) entered across its
    signed axis ``axis`` (1..3 = +x, +y, +z of the box, negative for -x ...). Numba-only helper."""
    a = abs(axis) - 1
    sign = 1.0 if axis > 0 else -1.0
    if a == 0:
        return sign * np.cos(yaw), sign * np.sin(yaw), 0.0
    if a == 1:
        return -sign * np.sin(yaw), sign * np.cos(yaw), 0.0
    return 0.0, 0.0, sign


@nb.njit(cache=True)
def facing_normal(n0, n1, n2, d0, d1, d2):  # pragma: no cover - compiled
    """The face normal (n0, n1, n2) turned to face a ray of direction (d0, d1, d2). Numba-only helper."""
    sign = -1.0 if n0 * d0 + n1 * d1 + n2 * d2 > 0 else 1.0
    return sign * n0, sign * n1, sign * n2


@nb.njit(cache=True)
def _nearest(dirs, d_static, face, face_normal, d_box, box, box_axis, box_yaw):  # pragma: no cover - compiled
    n = dirs.shape[0]
    dist = np.full(n, np.inf)
    box_of = np.full(n, -1, np.int32)
    face_of = np.full(n, -1, np.int32)
    normal = np.zeros((n, 3), np.float32)
    for i in range(n):
        if box[i] >= 0 and d_box[i] < d_static[i]:
            b = box[i]
            dist[i], box_of[i] = d_box[i], b
            normal[i, 0], normal[i, 1], normal[i, 2] = box_normal(box_axis[i], box_yaw[b])
        elif face[i] >= 0:
            f = face[i]
            dist[i], face_of[i] = d_static[i], f
            normal[i, 0], normal[i, 1], normal[i, 2] = facing_normal(
                face_normal[f, 0], face_normal[f, 1], face_normal[f, 2], dirs[i, 0], dirs[i, 1], dirs[i, 2]
            )
    return dist, box_of, face_of, normal


@nb.njit(cache=True)
def _attributes(box_of, face_of, face_label, face_rgb, box_label, box_inst, box_rgb):  # pragma: no cover - compiled
    n = box_of.shape[0]
    label = np.zeros(n, np.uint8)
    instance = np.full(n, -1, np.int32)
    rgb = np.zeros((n, 3), np.uint8)
    for i in range(n):
        b, f = box_of[i], face_of[i]
        if b >= 0:
            label[i], instance[i] = box_label[b], box_inst[b]
            rgb[i, 0], rgb[i, 1], rgb[i, 2] = box_rgb[b, 0], box_rgb[b, 1], box_rgb[b, 2]
        elif f >= 0:
            label[i] = face_label[f]
            rgb[i, 0], rgb[i, 1], rgb[i, 2] = face_rgb[f, 0], face_rgb[f, 1], face_rgb[f, 2]
    return label, instance, rgb


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


@nb.njit(cache=True, nogil=True)
def _cast_boxes_by_sector(  # pragma: no cover - compiled
    origin, dirs, centers, half, radius, yaw, max_range, box_lo, box_span, sector_start, sector_rays
):
    """``_cast_boxes`` from one origin, box by box over the rays of the box's sectors (rays with no
    box in their sector cost nothing). Each ray meets its candidate boxes in ascending order, as in
    ``_cast_boxes``, so the results are the same."""
    n = dirs.shape[0]
    best_t = np.full(n, np.inf)
    best_box = np.full(n, -1, np.int32)
    best_axis = np.zeros(n, np.int8)
    n_bins = sector_start.shape[0] - 1
    for b in range(centers.shape[0]):
        px, py, pz = origin[0] - centers[b, 0], origin[1] - centers[b, 1], origin[2] - centers[b, 2]
        c, s = np.cos(yaw[b]), np.sin(yaw[b])
        for q in range(box_span[b]):
            sector = (box_lo[b] + q) % n_bins
            for e in range(sector_start[sector], sector_start[sector + 1]):
                i = sector_rays[e]
                t_best = min(best_t[i], max_range)
                t_enter, axis = _box_entry(
                    px, py, pz, dirs[i, 0], dirs[i, 1], dirs[i, 2], c, s, half[b], radius[b], t_best
                )
                if axis != 0:
                    best_t[i] = t_enter
                    best_box[i] = b
                    best_axis[i] = axis
    return best_t, best_box, best_axis


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
        return _cast_boxes_by_sector(
            origins_m[0], directions, boxes.center_m, boxes.half_extent_m, boxes.radius_m, boxes.yaw_rad,
            float(max_range_m), lo, span, index.start, index.rays,
        )  # fmt: skip
    if len(origins_m) != 1 or m == 0:  # one candidate list holding every box
        ray_bin, bin_start, candidates = np.zeros(n, np.int64), np.array([0, m], np.int64), np.arange(m, dtype=np.int32)
    else:
        ray_bin = azimuth_bins(directions)
        bin_start, candidates = _box_candidates(boxes, boxes.center_m - origins_m[0], max_range_m)
    return _cast_boxes(
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
    nearest = _nearest(
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
    label, instance, rgb = _attributes(
        hits.box, hits.face, mesh.face_label, mesh.face_rgb, boxes.label, boxes.instance, boxes.rgb
    )
    return SurfaceHits(hits.distance_m, label, instance, hits.normal, rgb)
