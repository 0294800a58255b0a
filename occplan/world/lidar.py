"""LiDAR return model: which rays give a point (a hit within range, off the ego body) and their
deterministic intensity from class reflectivity and incidence angle."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.types import LabelSet, Pose
from occplan.world.ray_kernels import box_normal
from occplan.world.raycast import CastHits


def _reflectivity_table() -> np.ndarray:
    """(32,) float64 diffuse reflectivity in [0, 1] per lidarseg general class."""
    table = np.full(32, 0.2)
    spec = {
        "flat.driveable_surface": 0.08,
        "flat.sidewalk": 0.14,
        "flat.terrain": 0.12,
        "flat.other": 0.1,
        "static.manmade": 0.25,
        "static.vegetation": 0.18,
        "vehicle.car": 0.35,
        "vehicle.truck": 0.35,
        "vehicle.bus.rigid": 0.35,
        "movable_object.barrier": 0.45,
        "movable_object.trafficcone": 0.8,
        "static.other": 0.5,
    }
    names = LabelSet.lidarseg_general().class_names
    for name, value in spec.items():
        table[names.index(name)] = value
    return table


REFLECTIVITY = _reflectivity_table()


@nb.njit(cache=True, inline="always")
def return_intensity(reflectivity: float, cos_incidence: float) -> float:  # pragma: no cover - compiled
    """Intensity (0..255, integer-valued) of one return from the class ``reflectivity`` (``REFLECTIVITY``)
    and |cos| of the incidence angle. Numba-only helper of the sweep kernels."""
    return np.round(255.0 * reflectivity * (0.25 + 0.75 * cos_incidence))


@nb.njit(cache=True)
def _head_on(label, table):  # pragma: no cover - compiled
    out = np.empty(label.shape[0], np.float32)
    for i in range(label.shape[0]):
        out[i] = return_intensity(table[label[i]], 1.0)
    return out


def head_on_intensity(label: np.ndarray) -> np.ndarray:
    """Intensity (N,) float32 of returns from surfaces of lidarseg general class ``label`` (N,) hit head-on."""
    return _head_on(np.asarray(label), REFLECTIVITY)


@nb.njit(cache=True)
def ego_body(ego_from_sensor, lo, hi):  # pragma: no cover - compiled
    """The ego body test of ``on_ego_body`` as one tuple: ego_from_sensor (4, 4) rows 0-2 (12 values),
    then the body box corners ``lo``, ``hi`` (3,) in the ego frame. Numba-only helper."""
    m = ego_from_sensor
    return (
        m[0, 0], m[0, 1], m[0, 2], m[0, 3], m[1, 0], m[1, 1], m[1, 2], m[1, 3], m[2, 0], m[2, 1], m[2, 2], m[2, 3],
        lo[0], lo[1], lo[2], hi[0], hi[1], hi[2],
    )  # fmt: skip


@nb.njit(cache=True, inline="always")
def on_ego_body(p0, p1, p2, body):  # pragma: no cover - compiled
    """True when the sensor-frame point (p0, p1, p2) lies on the ego body (``ego_body`` tuple)."""
    for a in range(3):
        e = body[4 * a] * p0 + body[4 * a + 1] * p1 + body[4 * a + 2] * p2 + body[4 * a + 3]
        if not body[12 + a] <= e <= body[15 + a]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _returns(  # pragma: no cover - compiled
    d_static, face, face_normal, d_box, box, box_axis, box_yaw, dirs_sensor, ring, sensor_from_world, ego_from_sensor,
    lo, hi, face_label, box_label, box_inst, table,
):  # fmt: skip
    n = dirs_sensor.shape[0]
    dist = np.full(n, np.inf)
    kept = np.empty(n, np.int64)
    points = np.empty((n, 5), np.float32)
    label = np.empty(n, np.uint8)
    instance = np.empty(n, np.int32)
    k = 0
    body = ego_body(ego_from_sensor, lo, hi)
    for i in range(n):
        b = box[i]  # the nearest of the box and the static hit, as ``raycast.cast_nearest`` picks it
        if b >= 0 and d_box[i] < d_static[i]:
            d = d_box[i]
            n0, n1, n2 = box_normal(box_axis[i], box_yaw[b])
        elif face[i] >= 0:  # the normal's side does not matter: only |cos| of the incidence counts
            b, f, d = -1, face[i], d_static[i]
            n0, n1, n2 = face_normal[f, 0], face_normal[f, 1], face_normal[f, 2]
        else:
            continue
        dist[i] = d
        if not np.isfinite(d):
            continue
        p0, p1, p2 = dirs_sensor[i, 0] * d, dirs_sensor[i, 1] * d, dirs_sensor[i, 2] * d
        if on_ego_body(p0, p1, p2, body):
            continue
        normal = (np.float32(n0), np.float32(n1), np.float32(n2))  # the float32 normals of ``NearestHits``
        c = 0.0  # cos of the incidence angle, in the sensor frame
        for a in range(3):
            n_a = sensor_from_world[a, 0] * normal[0] + sensor_from_world[a, 1] * normal[1]
            c += (n_a + sensor_from_world[a, 2] * normal[2]) * dirs_sensor[i, a]
        lab = box_label[b] if b >= 0 else face_label[face[i]]
        kept[k], label[k] = i, lab
        instance[k] = box_inst[b] if b >= 0 else -1
        points[k, 0], points[k, 1], points[k, 2] = p0, p1, p2
        points[k, 3] = return_intensity(table[lab], abs(c))
        points[k, 4] = ring[i]
        k += 1
    return dist, kept[:k], points[:k], label[:k], instance[:k]


@dataclass(frozen=True)
class LidarReturns:
    """The K rays of one sweep that give a point (a hit within range, off the ego body): ``ray``
    (K,) int64 ray indices, ``points`` (K, 5) float32 x y z (sensor frame) intensity ring, ``label``
    (K,) uint8 lidarseg general, ``instance`` (K,) int32 (-1 static); ``distance_m`` (N,) float64 the
    nearest hit of every ray of the sweep (inf where none)."""

    ray: np.ndarray
    points: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    distance_m: np.ndarray


def lidar_returns(
    hits: CastHits,
    dirs_sensor: np.ndarray,
    ring: np.ndarray,
    world_from_sensor: Pose,
    ego_from_sensor: Pose,
    ego_box: tuple[np.ndarray, np.ndarray],
) -> LidarReturns:
    """Points of one sweep from the ``hits`` of its rays (world frame; the nearest of the static and
    the box hit counts), the same rays' unit directions ``dirs_sensor`` (N, 3) in the sensor frame and
    rings (N,) float32; ``ego_box`` the (lo, hi) (3,) corners of the ego body in the ego frame."""
    dist, ray, points, label, instance = _returns(
        hits.static_distance_m,
        hits.face,
        hits.scene.face_normal,
        hits.box_distance_m,
        hits.box,
        hits.box_axis,
        hits.boxes.yaw_rad,
        dirs_sensor,
        ring,
        world_from_sensor.inverse().matrix,
        ego_from_sensor.matrix,
        np.asarray(ego_box[0], np.float64),
        np.asarray(ego_box[1], np.float64),
        hits.scene.mesh.face_label,
        hits.boxes.label,
        hits.boxes.instance,
        REFLECTIVITY,
    )
    return LidarReturns(ray, points, label, instance, dist)


@nb.njit(cache=True, nogil=True)
def _to_frame(points, matrix):  # pragma: no cover - compiled
    out = points.copy()
    for i in range(points.shape[0]):
        x, y, z = float(points[i, 0]), float(points[i, 1]), float(points[i, 2])
        for a in range(3):
            out[i, a] = matrix[a, 0] * x + matrix[a, 1] * y + matrix[a, 2] * z + matrix[a, 3]
    return out


def points_to_frame(points: np.ndarray, a_from_sensor: Pose) -> np.ndarray:
    """A copy of a sweep's points (N, C >= 3) float32 with x, y, z moved from the sensor frame to
    frame a (computed in float64); the other columns are kept."""
    return _to_frame(np.ascontiguousarray(points, np.float32), a_from_sensor.matrix)
