"""Static-mesh ray casting through Embree 4's ray-packet API (``rtcIntersect8``), called via ctypes
on the Embree library bundled in the embreex wheel, with the per-packet loop in numba.

embreex only exposes Embree's single-ray path, one ``rtcIntersect1`` per ray behind a Python-level
loop; this module builds its own scene (build quality HIGH) and traces SoA packets of 8 rays, so the
per-ray overhead is a few packed floats. Struct layouts and enum values follow Embree 4.4's public
headers (``include/embree4/rtcore_*.h``).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import embreex
import numba as nb
import numpy as np

from occplan.errors import ValidationError

_W = 8  # rays per packet: rtcIntersect8 is native on AVX/AVX2 and as fast as rtcIntersect16 on AVX-512
# RTCRayHit8, SoA with one lane-array of 8 x 4 bytes per field: RTCRay8 = org_x org_y org_z tnear dir_x dir_y
# dir_z time tfar mask id flags (lane-arrays 0..11), then RTCHit8 = Ng_x Ng_y Ng_z u v primID geomID (12..18)
# and instID[1] (+ instPrimID[1] in builds with instance arrays); 24 lane-arrays leave headroom for either.
_RAYHIT_LANES = 24
_ALIGN_BYTES = 32  # rtcIntersect8 needs the ray packet (and we keep the valid mask) 32-byte aligned

# enum values from rtcore_common.h / rtcore_geometry.h / rtcore_buffer.h
_RTC_BUILD_QUALITY_HIGH = 2
_RTC_GEOMETRY_TYPE_TRIANGLE = 0
_RTC_BUFFER_TYPE_INDEX, _RTC_BUFFER_TYPE_VERTEX = 0, 1
_RTC_FORMAT_UINT3, _RTC_FORMAT_FLOAT3 = 0x5003, 0x9003


def _library_path() -> str:
    """The Embree 4 library bundled with embreex (Linux wheels: ``embreex.libs/``, macOS: ``embreex/.dylibs/``)."""
    package = os.path.dirname(os.path.abspath(embreex.__file__))
    patterns = [
        os.path.join(os.path.dirname(package), "embreex.libs", "libembree4*.so*"),
        os.path.join(package, ".dylibs", "libembree4*.dylib"),
    ]
    found = sorted(f for pattern in patterns for f in glob.glob(pattern))
    if not found:
        raise ImportError(f"embree_packets: no Embree 4 library found ({', '.join(patterns)})")
    return found[0]


@functools.cache
def library() -> ctypes.CDLL:
    """The bundled Embree 4 library with the signatures used here (ImportError when absent)."""
    lib = ctypes.CDLL(_library_path())
    ptr, u32, size = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_size_t
    signatures = {
        "rtcNewDevice": (ptr, [ctypes.c_char_p]),
        "rtcReleaseDevice": (None, [ptr]),
        "rtcGetDeviceError": (ctypes.c_int, [ptr]),
        "rtcNewScene": (ptr, [ptr]),
        "rtcReleaseScene": (None, [ptr]),
        "rtcSetSceneBuildQuality": (None, [ptr, ctypes.c_int]),
        "rtcCommitScene": (None, [ptr]),
        "rtcNewGeometry": (ptr, [ptr, ctypes.c_int]),
        "rtcReleaseGeometry": (None, [ptr]),
        "rtcSetNewGeometryBuffer": (ptr, [ptr, ctypes.c_int, u32, ctypes.c_int, size, size]),
        "rtcCommitGeometry": (None, [ptr]),
        "rtcAttachGeometry": (u32, [ptr, ptr]),
        # (const int* valid, RTCScene, RTCRayHit8*, RTCIntersectArguments*): every pointer declared as a
        # uint64 address so that numba can pass array addresses
        "rtcIntersect8": (None, [ctypes.c_uint64] * 4),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


@nb.njit(cache=True)
def _aligned_words(n_words):  # pragma: no cover - compiled
    """A zeroed uint32 array of ``n_words`` whose data starts on an ``_ALIGN_BYTES`` boundary."""
    raw = np.zeros(n_words + _ALIGN_BYTES // 4, np.uint32)
    skip = ((_ALIGN_BYTES - raw.ctypes.data % _ALIGN_BYTES) % _ALIGN_BYTES) // 4
    return raw[skip : skip + n_words]


@nb.njit(cache=True, nogil=True)
def _trace(intersect8, scene, origins, dirs, max_range):  # pragma: no cover - compiled
    """Packets of 8 consecutive rays through ``intersect8`` (rtcIntersect8 with NULL arguments): packs
    the SoA RTCRayHit8 (directions rounded to float32), calls Embree, reads back the hit distance
    (float64, inf on a miss) and primID (-1 on a miss)."""
    n = dirs.shape[0]
    per_ray_origin = origins.shape[0] == n
    dist = np.empty(n)
    prim = np.empty(n, np.int32)
    valid = _aligned_words(_W).view(np.int32)
    rayhit = _aligned_words(_RAYHIT_LANES * _W)
    f = rayhit.view(np.float32)
    for k in range(_W):  # fields Embree only reads; tnear and time stay 0, ray id and flags 0
        f[k], f[_W + k], f[2 * _W + k] = origins[0, 0], origins[0, 1], origins[0, 2]
        rayhit[9 * _W + k] = 0xFFFFFFFF  # mask: every geometry
    for start in range(0, n, _W):
        count = min(_W, n - start)
        for k in range(_W):
            i = start + min(k, count - 1)  # a short last packet repeats its last ray, masked out below
            valid[k] = -1 if k < count else 0
            if per_ray_origin:
                f[k], f[_W + k], f[2 * _W + k] = origins[i, 0], origins[i, 1], origins[i, 2]
            f[4 * _W + k], f[5 * _W + k], f[6 * _W + k] = dirs[i, 0], dirs[i, 1], dirs[i, 2]
            f[8 * _W + k] = max_range  # tfar
            rayhit[18 * _W + k] = 0xFFFFFFFF  # hit.geomID = RTC_INVALID_GEOMETRY_ID
        intersect8(valid.ctypes.data, scene, rayhit.ctypes.data, 0)
        for k in range(count):
            hit = rayhit[18 * _W + k] != 0xFFFFFFFF  # tfar starts at the range: every hit lies within it
            dist[start + k] = f[8 * _W + k] if hit else np.inf
            prim[start + k] = np.int32(rayhit[17 * _W + k]) if hit else -1
    return dist, prim


class PacketScene:
    """A triangle mesh in an Embree 4 BVH (build quality HIGH), traced in packets of 8 rays.

    ``vertices_f32`` (V, 3) float32 and ``faces_i32`` (F, 3) int32 vertex indices, in whatever frame the
    caller uses (e.g. relative to the mesh's minimum corner to keep float32 precision); rays are cast in
    that same frame. The arrays are copied into Embree-owned buffers; ``cast`` is reentrant.
    """

    def __init__(self, vertices_f32: np.ndarray, faces_i32: np.ndarray) -> None:
        self._device = self._scene = None
        self._lib = lib = library()  # kept for __del__, which may run after module globals are cleared at exit
        vertices = np.ascontiguousarray(vertices_f32, np.float32)
        faces = np.ascontiguousarray(faces_i32, np.int32)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValidationError(
                f"PacketScene: need (V, 3) vertices, (F, 3) faces, got {vertices.shape}, {faces.shape}"
            )
        if len(faces) == 0 or faces.min() < 0 or faces.max() >= len(vertices):
            raise ValidationError(f"PacketScene: need >= 1 face, vertex indices in [0, {len(vertices)})")
        self._device = lib.rtcNewDevice(None)
        if not self._device:
            raise RuntimeError("PacketScene: rtcNewDevice failed")
        self._scene = lib.rtcNewScene(self._device)
        lib.rtcSetSceneBuildQuality(self._scene, _RTC_BUILD_QUALITY_HIGH)
        geometry = lib.rtcNewGeometry(self._device, _RTC_GEOMETRY_TYPE_TRIANGLE)
        try:
            for kind, fmt, data in (
                (_RTC_BUFFER_TYPE_VERTEX, _RTC_FORMAT_FLOAT3, vertices),
                (_RTC_BUFFER_TYPE_INDEX, _RTC_FORMAT_UINT3, faces),
            ):
                dst = lib.rtcSetNewGeometryBuffer(geometry, kind, 0, fmt, 12, len(data))
                if not dst:
                    raise RuntimeError(f"PacketScene: rtcSetNewGeometryBuffer failed (RTCError {self._error()})")
                ctypes.memmove(dst, data.ctypes.data, data.nbytes)
            lib.rtcCommitGeometry(geometry)
            lib.rtcAttachGeometry(self._scene, geometry)
        finally:
            lib.rtcReleaseGeometry(geometry)  # the scene holds its own reference
        lib.rtcCommitScene(self._scene)
        error = self._error()
        if error:
            raise RuntimeError(f"PacketScene: building the Embree scene failed (RTCError {error})")

    def _error(self) -> int:
        """The device's pending RTCError code (0 = none); reading it clears it."""
        return self._lib.rtcGetDeviceError(self._device)

    def cast(self, origins: np.ndarray, dirs: np.ndarray, max_range_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit of N rays in the scene's frame: origins (N, 3) or one shared (1, 3), directions (N, 3)
        (unit for metric distances; float32 or float64, rounded to float32 for Embree). Returns (distance
        (N,) float64: the hit parameter along the direction, inf on a miss or beyond ``max_range_m``;
        primID (N,) int32: the face index, -1 on a miss or beyond ``max_range_m``)."""
        dirs = np.ascontiguousarray(dirs, np.float64 if np.asarray(dirs).dtype == np.float64 else np.float32)
        origins = np.ascontiguousarray(origins, np.float32)
        if dirs.ndim != 2 or dirs.shape[1] != 3 or origins.ndim != 2 or origins.shape[0] not in (1, len(dirs)):
            raise ValidationError(
                f"PacketScene.cast: need (N, 3) directions, (1|N, 3) origins; got {dirs.shape}, {origins.shape}"
            )
        if len(dirs) == 0:
            return np.zeros(0), np.zeros(0, np.int32)
        return _trace(self._lib.rtcIntersect8, self._scene, origins, dirs, np.float32(max_range_m))

    def __del__(self) -> None:
        if self._scene:
            self._lib.rtcReleaseScene(self._scene)
        if self._device:
            self._lib.rtcReleaseDevice(self._device)
        self._device = self._scene = None
