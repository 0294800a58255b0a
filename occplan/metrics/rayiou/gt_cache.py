"""On-disk cache of RayIoU ground-truth first hits, so a dataset's GT rays are cast once.

RayIoU (SparseOcc protocol) casts the same 14,040 rays per origin through the GT and the prediction;
only the rays whose GT first hit is not free count (``RayIoUMetric.sample_counts``). The GT half of
that work depends on nothing but the GT grid, the ray origins and the cast itself, so it is stored
per sample: the ids of the counted rays and, for each, the GT label, the exit depth (float32 m) and
the GT flow at the hit voxel (when the GT has flow). A later evaluation casts the prediction along
those rays only (``cast_rays(..., rays=...)``), which gives the same counts bit for bit.

An entry is content-addressed: its name is a BLAKE2b hash over

* the GT content (the caller's digest of the GT file bytes and its format),
* the sample's ray origins (float64 bytes) and the ray directions (float32 bytes),
* the grid (range, voxel size, shape), the label set (names, free index),
* ``CACHE_VERSION`` (record layout), the caller's protocol tag and the bytes of ``cast.py`` (so any
  change to the traversal starts fresh entries).

A changed GT file therefore misses its old entry (left on disk unused) instead of reading it.
Entries are written to a temporary file in the cache folder and renamed into place (atomic on
POSIX), and each records its own key: a truncated, foreign or corrupt file reads as a miss and is
rewritten. Layout of an entry: one JSON header line (key, array names, dtypes, shapes, byte
offsets) followed by the raw arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from occplan.errors import ValidationError
from occplan.metrics.rayiou import cast as _cast
from occplan.metrics.rayiou.cast import RayRecords
from occplan.types import GridSpec, LabelSet

CACHE_VERSION = 1
"""Layout of an entry; bump on any change of what an entry holds."""
MAGIC = b"OCCPLAN-RAYIOU-GT"


@cache
def _cast_source_hash() -> bytes:
    return hashlib.blake2b(Path(_cast.__file__).read_bytes(), digest_size=16).digest()


@dataclass(frozen=True)
class GtHits:
    """The counted GT rays of one sample: ``rays`` (K,) int64 ascending origin-major ray ids
    ``t * R + r`` of the rays whose GT first hit is not free, out of ``n_rays`` = T * R, and their
    ``records`` (label, float32 depth in metres, GT flow at the hit voxel or None; no voxel index)."""

    rays: np.ndarray
    records: RayRecords
    n_rays: int

    @classmethod
    def from_records(cls, records: RayRecords, free_index: int) -> GtHits:
        """Keep the rays of full per-ray GT records (all T * R rays, in ray-id order) that hit."""
        rays = np.flatnonzero(records.label != free_index)
        flow = None if records.flow is None else _flow_rows(records.flow)[rays].view(np.float32).reshape(-1, 2)
        rec = RayRecords(records.label[rays], records.dist_m[rays], None, records.shape, flow)
        return cls(rays.astype(np.int64, copy=False), rec, len(records.label))


def _flow_rows(flow: np.ndarray) -> np.ndarray:
    """(N,) uint64 view of (N, 2) float32 flow rows: one word per (vx, vy) pair, so rows are gathered
    and tested for any non-zero bit one word at a time."""
    return np.ascontiguousarray(flow, dtype=np.float32).reshape(-1).view(np.uint64)


class GtRayCache:
    """A folder of ``GtHits`` entries for one grid, label set and direction set.

    ``protocol`` names the caller's protocol version (part of every key). ``key(gt_digest, origins)``
    names an entry; ``load(key)`` returns its ``GtHits`` or None (absent, truncated, foreign);
    ``store(key, hits)`` writes it atomically.
    """

    def __init__(self, folder: str | Path, grid: GridSpec, labels: LabelSet, directions: np.ndarray, protocol: str):
        if labels.free_index is None:
            raise ValidationError(f"GtRayCache.labels: label set {labels.name} has no free class")
        self.folder = Path(folder) / f"rayiou-gt-v{CACHE_VERSION}"
        self.grid, self.labels = grid, labels
        self.n_directions = len(directions)
        h = hashlib.blake2b(digest_size=20)
        h.update(json.dumps([CACHE_VERSION, protocol, grid.range_min_m, grid.voxel_size_m, grid.shape]).encode())
        h.update(json.dumps([labels.name, labels.class_names, labels.free_index]).encode())
        h.update(np.ascontiguousarray(directions, dtype=np.float32).tobytes())
        h.update(_cast_source_hash())
        self._base = h.digest()

    def key(self, gt_digest: bytes, origins_m: np.ndarray) -> str:
        """Entry name of one sample: GT content digest and (T, 3) float64 origins, on this cache's base."""
        h = hashlib.blake2b(self._base, digest_size=20)
        h.update(gt_digest)
        h.update(np.ascontiguousarray(origins_m, dtype=np.float64).tobytes())
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.bin"

    def store(self, key: str, hits: GtHits) -> None:
        """Write ``hits`` under ``key``: a temporary file in the folder, renamed into place."""
        rec = hits.records
        mask = np.zeros(hits.n_rays, dtype=bool)
        mask[hits.rays] = True
        arrays = {"hit_bits": np.packbits(mask), "label": rec.label, "dist_m": rec.dist_m}
        if rec.flow is not None:  # flow is zero off moving objects: keep the rows with any non-zero bit
            rows = np.flatnonzero(_flow_rows(rec.flow)).astype(np.int32)
            arrays |= {"flow_rows": rows, "flow": np.ascontiguousarray(rec.flow[rows])}
        specs, offset = [], 0
        for name, a in arrays.items():
            specs.append([name, a.dtype.str, list(a.shape), offset])
            offset += a.nbytes
        header = json.dumps({"key": key, "n_rays": hits.n_rays, "n_hits": len(hits.rays), "arrays": specs})
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + b"\n" + header.encode() + b"\n")
                for a in arrays.values():
                    f.write(np.ascontiguousarray(a).tobytes())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, key: str) -> GtHits | None:
        """The entry of ``key``, or None when it is absent or unreadable (a miss: it will be rewritten)."""
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        try:
            return self._decode(key, data)
        except (ValueError, KeyError, TypeError, IndexError):
            return None

    def _decode(self, key: str, data: bytes) -> GtHits | None:
        magic, header, body = data.split(b"\n", 2)
        meta = json.loads(header)
        if magic != MAGIC or meta["key"] != key:
            return None
        arrays = {}
        for name, dtype, shape, offset in meta["arrays"]:
            count = int(np.prod(shape))
            a = np.frombuffer(body, dtype=np.dtype(dtype), count=count, offset=offset).reshape(shape)
            arrays[name] = a
        n_rays, n_hits = int(meta["n_rays"]), int(meta["n_hits"])
        expected = sum(a.nbytes for a in arrays.values())
        if len(body) != expected or n_rays % self.n_directions:
            return None
        rays = np.flatnonzero(np.unpackbits(arrays["hit_bits"], count=n_rays)).astype(np.int64)
        label, dist = arrays["label"], arrays["dist_m"]
        if len(rays) != n_hits or label.shape != (n_hits,) or dist.shape != (n_hits,):
            return None
        if label.dtype != np.uint8 or dist.dtype != np.float32:
            return None
        flow = None
        if "flow" in arrays:
            flow = np.zeros((n_hits, 2), dtype=np.float32)
            flow[arrays["flow_rows"]] = arrays["flow"]
        return GtHits(rays, RayRecords(label, dist, None, self.grid.shape, flow), n_rays)
