"""The numba kernels of ray casting (``occplan.world.raycast`` holds the types and the calls): ray entry
into oriented boxes (slab test behind a bounding-sphere rejection), the nearest of the static and box hits
with its surface normal, and the hit's label, instance and colour. Arrays are world frame.
"""

from __future__ import annotations

import numba as nb
import numpy as np


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
def cast_boxes_per_ray(  # pragma: no cover - compiled
    origins, dirs, centers, half, radius, yaw, max_range, ray_bin, bin_start, bin_boxes
):
    """Nearest box entry of N rays within ``max_range``, ray ``i`` tested against the candidate boxes of its
    sector, ``bin_boxes[bin_start[ray_bin[i]]:bin_start[ray_bin[i] + 1]]``, in that order: (distance (N,),
    inf on a miss; box (N,) int32, -1; signed box axis 1..3 of the entered face's normal (N,) int8)."""
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


@nb.njit(cache=True, nogil=True)
def cast_boxes_by_sector(  # pragma: no cover - compiled
    origin, dirs, centers, half, radius, yaw, max_range, box_lo, box_span, sector_start, sector_rays
):
    """``cast_boxes_per_ray`` from one origin, box by box over the rays of the box's sectors (rays with no
    box in their sector cost nothing). Each ray meets its candidate boxes in ascending order, as in
    ``cast_boxes_per_ray``, so the results are the same."""
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
def nearest_hits(dirs, d_static, face, face_normal, d_box, box, box_axis, box_yaw):  # pragma: no cover - compiled
    """The nearer of each ray's static hit (``d_static``, ``face``) and box hit (``d_box``, ``box``,
    ``box_axis``): (distance (N,), inf on a miss; box (N,) int32 and face (N,) int32, -1 where the ray hit
    the other kind or nothing; unit normal (N, 3) float32 facing the ray, 0 on a miss)."""
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
def hit_attributes(box_of, face_of, face_label, face_rgb, box_label, box_inst, box_rgb):  # pragma: no cover - compiled
    """Label (N,) uint8, instance (N,) int32 (-1 for static) and rgb (N, 3) uint8 of each ray's hit box or
    face (0, -1, 0 on a miss)."""
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
