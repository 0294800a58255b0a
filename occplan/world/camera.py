"""Camera rendering of ray hits: pixel rays of a pinhole camera and a deterministic shader.

The shader gives each class a learnable look: the albedo of the hit surface modulated by value
noise on world coordinates (class-specific scale and contrast), Lambertian shading against a sun
direction plus ambient light, distance fog, and a sky gradient where nothing was hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.types import LabelSet
from occplan.world.raycast import SurfaceHits


@dataclass(frozen=True)
class ShadingConfig:
    """Light and atmosphere. ``sun_direction`` points towards the sun (world frame, normalised on use)."""

    sun_direction: tuple[float, float, float] = (0.45, 0.3, 0.84)
    ambient: float = 0.35
    diffuse: float = 0.75
    fog_distance_m: float = 180.0
    sky_horizon_rgb: tuple[int, int, int] = (200, 214, 230)
    sky_zenith_rgb: tuple[int, int, int] = (90, 140, 205)


def _texture_table() -> np.ndarray:
    """(32, 2) float64 per lidarseg general class: (noise frequency 1/m, noise contrast)."""
    table = np.tile([1.0, 0.12], (32, 1))
    spec = {
        "flat.driveable_surface": (2.5, 0.08),
        "flat.sidewalk": (1.25, 0.18),
        "flat.terrain": (3.0, 0.3),
        "flat.other": (1.5, 0.15),
        "static.manmade": (0.6, 0.2),
        "static.vegetation": (4.0, 0.45),
        "static.other": (1.0, 0.2),
        "human.pedestrian.adult": (2.0, 0.25),
        "movable_object.trafficcone": (0.0, 0.0),
        "movable_object.barrier": (2.0, 0.2),
    }
    names = LabelSet.lidarseg_general().class_names
    for name, value in spec.items():
        table[names.index(name)] = value
    return table


_TEXTURE = _texture_table()


def pixel_rays(intrinsics: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Unit ray directions through the pixel centres, camera frame (OpenCV), (H * W, 3) float64, row-major."""
    u, v = np.meshgrid(np.arange(width_px) + 0.5, np.arange(height_px) + 0.5)
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    d = pix @ np.linalg.inv(intrinsics).T
    return d / np.linalg.norm(d, axis=1, keepdims=True)


@nb.njit(cache=True, inline="always")
def _hash01(ix, iy, iz, seed):  # pragma: no cover - compiled
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791) ^ (seed * 2654435761)
    h = h & 0xFFFFFFFF
    h = ((h >> 16) ^ h) * 0x45D9F3B & 0xFFFFFFFF
    h = ((h >> 16) ^ h) * 0x45D9F3B & 0xFFFFFFFF
    h = (h >> 16) ^ h
    return (h & 0xFFFFFF) / 16777216.0


@nb.njit(cache=True)
def _value_noise(x, y, z, seed):  # pragma: no cover - compiled
    fx, fy, fz = np.floor(x), np.floor(y), np.floor(z)
    ix, iy, iz = np.int64(fx), np.int64(fy), np.int64(fz)
    tx, ty, tz = x - fx, y - fy, z - fz
    tx, ty, tz = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty), tz * tz * (3 - 2 * tz)
    acc = 0.0
    for dx in range(2):
        for dy in range(2):
            for dz in range(2):
                w = (tx if dx else 1 - tx) * (ty if dy else 1 - ty) * (tz if dz else 1 - tz)
                acc += w * _hash01(ix + dx, iy + dy, iz + dz, seed)
    return acc


@nb.njit(parallel=True, cache=True)
def _shade(dist, label, normal, albedo, origins, dirs, texture, sun, ambient, diffuse, fog_m, horizon, zenith, out):
    """Shade N rays into ``out`` (N, 3) uint8: ``normal`` (N, 3) float32 and ``albedo`` (N, 3) uint8 are read as
    float64, each channel is clamped to [0, 255] and rounded half to even (``np.round``)."""
    n = dist.shape[0]
    per_ray_origin = origins.shape[0] == n
    for i in nb.prange(n):
        up = min(max(dirs[i, 2] * 2.5, 0.0), 1.0)
        sky0 = horizon[0] * (1 - up) + zenith[0] * up
        sky1 = horizon[1] * (1 - up) + zenith[1] * up
        sky2 = horizon[2] * (1 - up) + zenith[2] * up
        if not np.isfinite(dist[i]):
            out[i, 0], out[i, 1], out[i, 2] = _to_u8(sky0), _to_u8(sky1), _to_u8(sky2)
            continue
        oi = np.int64(i) if per_ray_origin else np.int64(0)
        d = dist[i]
        freq, contrast = texture[label[i], 0], texture[label[i], 1]
        px, py, pz = origins[oi, 0] + d * dirs[i, 0], origins[oi, 1] + d * dirs[i, 1], origins[oi, 2] + d * dirs[i, 2]
        noise = 0.65 * _value_noise(px * freq, py * freq, pz * freq, label[i]) + 0.35 * _value_noise(
            px * freq * 4.0, py * freq * 4.0, pz * freq * 4.0, label[i] + 101
        )
        tex = 1.0 + contrast * (2.0 * noise - 1.0)
        nx, ny, nz = np.float64(normal[i, 0]), np.float64(normal[i, 1]), np.float64(normal[i, 2])
        lam = ambient + diffuse * max(0.0, nx * sun[0] + ny * sun[1] + nz * sun[2])
        fog = 1.0 - np.exp(-d / fog_m)
        for c, sky in ((0, sky0), (1, sky1), (2, sky2)):
            v = np.float64(albedo[i, c]) * tex * lam * (1.0 - fog) + sky * fog
            out[i, c] = _to_u8(min(max(v, 0.0), 255.0))


@nb.njit(cache=True, inline="always")
def _to_u8(v):  # pragma: no cover - compiled
    """A value in [0, 255] rounded half to even, as uint8."""
    return np.uint8(np.rint(v))


def shade(hits: SurfaceHits, origins_m: np.ndarray, directions: np.ndarray, config: ShadingConfig) -> np.ndarray:
    """RGB (N, 3) uint8 of N camera rays (world-frame origins (N, 3) or (1, 3), unit directions (N, 3))."""
    sun = np.asarray(config.sun_direction, np.float64)
    out = np.empty((len(directions), 3), np.uint8)
    _shade(
        hits.distance_m,
        hits.label,
        np.ascontiguousarray(hits.normal, np.float32),
        np.ascontiguousarray(hits.rgb, np.uint8),
        np.ascontiguousarray(origins_m, np.float64).reshape(-1, 3),
        np.ascontiguousarray(directions, np.float64),
        _TEXTURE,
        sun / np.linalg.norm(sun),
        float(config.ambient),
        float(config.diffuse),
        float(config.fog_distance_m),
        np.asarray(config.sky_horizon_rgb, np.float64),
        np.asarray(config.sky_zenith_rgb, np.float64),
        out,
    )
    return out
