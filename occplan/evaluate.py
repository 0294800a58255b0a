"""Standalone evaluator over a nuScenes-format dataroot, as users of the reference devkits expect.

    python -m occplan.evaluate --data ROOT [--version V] --pred-dir DIR [--label-set occ3d|openocc]
        [--plan-file FILE] [--split S] [--out FILE] [--allow-missing]
        [--workers N] [--cache-dir DIR | --no-cache]

Predictions are ``<pred-dir>/<sample_token>.npz`` with key ``pred`` (uint8 200x200x16 in the chosen
label set) and optionally ``flow`` (200x200x16x2 float32 m/s), as SparseOcc's standalone tool. The
plan file is JSON ``{sample_token: [[x, y], ... 6 waypoints]}`` in the ego frame of the sample.
Every sample with occupancy GT is scored (occupancy mIoU variants, RayIoU, flow mAVE and the Occ
score when both sides carry flow); every keyframe is scored for planning when a plan file is given.
A prediction set that misses GT samples is refused unless ``--allow-missing``. The result is a flat
JSON of METRICS.md keys plus the protocol version, label set, grid and sample counts (NaN -> null).

Scale: the keyframes are listed from the devkit tables without building whole scenarios
(``scene_keyframes``: poses and LiDAR files only), and the npz files are inflated member by member in
one call each, straight into the arrays (``npz_arrays``). ``--workers`` samples are scored at once in
threads (decoding, the mIoU counts, the ray walk and the ray counts of a sample run in one thread
and release the GIL); each sample's counts are added in sample order, so the sums are those of a
one-by-one run. The GT half of RayIoU (the first hits of the GT rays that count) is cached on disk
(``occplan.metrics.rayiou.gt_cache``, in ``--cache-dir``, default ``$OCCPLAN_CACHE`` or
``~/.cache/occplan``) under a hash of the GT file's bytes, the ray origins, the grid, labels,
protocol and ray-cast code: a later run reads it, does not inflate the GT flow, and casts the
prediction along the counted rays only. No metric value
depends on the workers or the cache; ``rayiou_gt_cache`` in the result counts the samples read from
it (``hits``) and cast (``cast``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numba
import numpy as np
from zlib_ng import zlib_ng

from occplan import PROTOCOL_VERSION
from occplan.data.occ_readers import OccFormat, occupancy_candidates, read_occupancy
from occplan.errors import DataError, ValidationError
from occplan.io import cache_root, json_safe
from occplan.metrics.occupancy import OccupancyMetric, OccupancyMetricConfig, mask_variants
from occplan.metrics.planning import PlanningMetric, planning_sample
from occplan.metrics.rayiou import (
    GtHits,
    GtRayCache,
    RayIoUConfig,
    RayIoUMetric,
    RayRecords,
    RaySampleCounts,
    cast_rays,
    flow_at,
    lidar_ray_directions,
    lidar_world_positions,
    rayiou_origins,
)
from occplan.types import (
    UNMAPPED,
    Frame,
    GridSpec,
    LabelSet,
    OccupancyFrame,
    OccupancyPrediction,
    Pose,
    Trajectory,
)

if TYPE_CHECKING:
    from occplan.data.source import Keyframe

LABEL_SETS = {"occ3d": LabelSet.occ3d, "openocc": LabelSet.openocc_v2}
NUM_WAYPOINTS = 6
DEFAULT_WORKERS = 2


def prediction_files(pred_dir: str | Path) -> dict[str, Path]:
    """``{sample_token: path}`` of the ``*.npz`` files in ``pred_dir``."""
    d = Path(pred_dir)
    if not d.is_dir():
        raise DataError(f"{d}: prediction directory not found")
    return {p.stem: p for p in sorted(d.glob("*.npz"))}


def read_prediction(path: Path, grid: GridSpec, pred_labels: LabelSet, target: LabelSet) -> OccupancyPrediction:
    """Read ``pred`` (+ optional ``flow``) of one file and convert the labels to ``target`` by name."""
    pred, flow, _ = _prediction_arrays(Path(path), grid, pred_labels, target)
    return OccupancyPrediction(pred, grid, target, flow=flow)


def _prediction_arrays(
    path: Path, grid: GridSpec, pred_labels: LabelSet, target: LabelSet, read_flow: bool = True
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """``pred`` (X, Y, Z) uint8 in ``target``, ``flow`` (X, Y, Z, 2) float32 or None, and whether the
    file has a flow field, of one prediction file, checked as ``OccupancyPrediction`` checks them;
    DataError naming the file and field. ``read_flow`` False (the GT has no flow, so it is not
    scored) leaves the flow field neither inflated nor checked."""
    data = _read_bytes(path)
    members = _npz_members(data, path)
    z = npz_arrays(data, path, ("pred",), optional=("flow",) if read_flow else (), members=members)
    pred = z["pred"]
    if pred.shape != grid.shape or pred.dtype != np.uint8:
        raise DataError(f"{path}: field 'pred' must be uint8 {grid.shape}, got {pred.dtype} {pred.shape}")
    if pred.size and int(pred.max()) >= pred_labels.num_classes:
        raise DataError(f"{path}: field 'pred' has labels >= {pred_labels.num_classes} ({pred_labels.name})")
    if pred_labels != target:
        pred = pred_labels.table_to(target)[pred]
        if np.any(pred == UNMAPPED):
            raise DataError(f"{path}: field 'pred' has {pred_labels.name} classes absent from {target.name}")
    flow = z.get("flow")
    if flow is None:
        return pred, None, "flow" in members
    if flow.shape != (*grid.shape, 2):
        raise DataError(f"{path}: field 'flow' must be finite {(*grid.shape, 2)}, got {flow.dtype} {flow.shape}")
    flow = flow.astype(np.float32, copy=False)
    if not _all_finite(flow.reshape(-1)):
        bad = int(np.count_nonzero(~np.isfinite(flow)))
        raise DataError(f"{path}: field 'flow' must be finite ({bad} non-finite (NaN/inf) values)")
    return pred, flow, True


@numba.njit(cache=True, nogil=True)
def _all_finite(a: np.ndarray) -> bool:
    """True when no element of the float32 vector ``a`` is NaN or infinite (exponent bits all set)."""
    bits = a.view(np.uint32)
    acc = 0
    for i in range(bits.size):
        acc |= (bits[i] & 0x7F800000) == 0x7F800000
    return acc == 0


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from e


def npz_arrays(
    data: bytes,
    path: Path,
    keys: tuple[str, ...],
    optional: tuple[str, ...] = (),
    members: dict[str, zipfile.ZipInfo] | None = None,
) -> dict[str, np.ndarray]:
    """The named arrays of an npz archive held in memory (``np.savez`` / ``savez_compressed`` layout:
    a zip of ``<key>.npy`` members, stored or deflated), ``optional`` ones when present.

    Each member is inflated in one ``zlib`` call into a buffer of its recorded size, then viewed as
    an array without a copy (read-only): the same arrays as ``np.load`` with ``allow_pickle=False``
    (which inflates and copies in chunks); each member must inflate to its recorded size and CRC-32
    (computed by zlib-ng, ~6x the speed of ``zlib.crc32``; zlib-ng's inflate is slower than zlib's on
    the long zero runs of flow grids, so ``zlib`` inflates).
    ``members``: the archive's ``_npz_members`` when the caller has them. DataError
    naming the file for a corrupt or truncated archive, a missing key, or an object array."""
    members = _npz_members(data, path) if members is None else members
    missing = [k for k in keys if k not in members]
    if missing:
        raise DataError(f"{path}: missing field(s) {missing}; has {sorted(members)}")
    view = memoryview(data)
    out = {}
    for key in (*keys, *(o for o in optional if o in members)):
        info = members[key]
        try:
            out[key] = _npy_array(_member_bytes(view, info))
        except (ValueError, EOFError, zlib.error, struct.error) as e:
            raise DataError(f"{path}: corrupt or truncated npz member {info.filename} ({type(e).__name__}: {e})") from e
    return out


def _npz_members(data: bytes, path: Path) -> dict[str, zipfile.ZipInfo]:
    """``{key: zip entry}`` of an npz archive held in memory; DataError naming the file when it is
    not a readable zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise DataError(f"{path}: corrupt or truncated npz ({type(e).__name__}: {e})") from e


def _member_bytes(data: memoryview, info: zipfile.ZipInfo) -> bytes | memoryview:
    """The uncompressed bytes of one zip member: its local header gives where the data starts."""
    start = info.header_offset
    if bytes(data[start : start + 4]) != b"PK\x03\x04":
        raise ValueError("bad local file header")
    name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
    start += 30 + name_len + extra_len
    raw = data[start : start + info.compress_size]
    if len(raw) != info.compress_size:
        raise EOFError("member data cut short")
    if info.compress_type == zipfile.ZIP_DEFLATED:
        out = zlib.decompress(raw, -zlib.MAX_WBITS, max(info.file_size, 1))
    elif info.compress_type == zipfile.ZIP_STORED:
        out = raw
    else:
        raise ValueError(f"compression method {info.compress_type} (expected stored or deflated)")
    if len(out) != info.file_size:
        raise ValueError(f"{len(out)} bytes inflated, the archive directory says {info.file_size}")
    if zlib_ng.crc32(out) != info.CRC:
        raise ValueError("CRC-32 of the inflated bytes differs from the archive's")
    return out


def _npy_array(buf: bytes | memoryview) -> np.ndarray:
    """The array of one ``.npy`` file's bytes, a read-only view of them; object arrays refused."""
    f = io.BytesIO(buf)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        return np.lib.format.read_array(io.BytesIO(buf), allow_pickle=False)
    if dtype.hasobject:
        raise ValueError("object arrays are not read (allow_pickle=False)")
    a = np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape)), offset=f.tell())
    return a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)


def read_plans(path: str | Path) -> dict[str, np.ndarray]:
    """``{sample_token: (6, 2) float64}`` from the plan JSON; DataError naming the file and token."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{p}: cannot read plan JSON ({e})") from e
    if not isinstance(raw, dict):
        raise DataError(f"{p}: expected an object {{sample_token: [[x, y], ...]}}")
    plans = {}
    for token, xy in raw.items():
        try:
            a = np.asarray(xy, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise DataError(f"{p}: plan of {token} is not numeric ({e})") from e
        if a.shape != (NUM_WAYPOINTS, 2):
            raise DataError(f"{p}: plan of {token} must be {NUM_WAYPOINTS} [x, y] waypoints, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise DataError(f"{p}: plan of {token} has non-finite (NaN/inf) waypoints")
        plans[token] = a
    return plans


def _refuse_missing(kind: str, missing: list[str], total: int, allow: bool) -> None:
    if missing and not allow:
        raise DataError(
            f"{kind}: {len(missing)} of {total} samples have no prediction (e.g. {missing[:3]}); "
            "pass --allow-missing to score the others only"
        )


def evaluate(
    source,
    pred_dir: str | Path | None,
    label_set: str = "occ3d",
    plan_file: str | Path | None = None,
    allow_missing: bool = False,
    split: str | None = None,
    workers: int = DEFAULT_WORKERS,
    cache_dir: str | Path | None = None,
) -> dict:
    """Score ``pred_dir`` (and ``plan_file``) against a ``NuScenesSource``; returns the flat result dict.

    ``workers`` samples are scored at once in threads (1: one after the other, the ray walk
    numba-parallel instead); ``cache_dir`` holds the RayIoU GT first hits (``GtRayCache``; None: no
    cache). Neither changes a metric value."""
    if label_set not in LABEL_SETS:
        raise ValidationError(f"--label-set {label_set!r}: expected one of {', '.join(LABEL_SETS)}")
    if workers < 1:
        raise ValidationError(f"--workers {workers}: must be >= 1")
    pred_labels = LABEL_SETS[label_set]()
    if cache_dir is not None:
        _check_cache_dir(Path(cache_dir))
    names = source.scene_names(split)
    out: dict = {"protocol_version": PROTOCOL_VERSION, "data": str(source.dataroot), "version": source.version}
    if pred_dir is not None:
        out.update(_evaluate_occupancy(source, names, pred_dir, pred_labels, allow_missing, workers, cache_dir))
    if plan_file is not None:
        frames = [(sc, i) for sc in (source.scenario(name) for name in names) for i in range(len(sc.frames))]
        gt_cache: dict[str, OccupancyFrame | None] = {}

        def gt_of(frame: Frame) -> OccupancyFrame | None:
            if frame.sample_token not in gt_cache:
                gt_cache[frame.sample_token] = source.occupancy(frame)
            return gt_cache[frame.sample_token]

        out.update(_evaluate_plans(frames, gt_of, plan_file, allow_missing))
    return out


def _check_cache_dir(folder: Path) -> None:
    """Create the cache folder; ValidationError naming it when it cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValidationError(f"--cache-dir {folder}: cannot create it ({e.strerror})") from e
    if not os.access(folder, os.W_OK):
        raise ValidationError(f"--cache-dir {folder}: not writable")


def scene_keyframes(source, name: str) -> tuple[str, Sequence[Keyframe | Frame]]:
    """(scene token, keyframes in time order) of scene ``name``. A ``NuScenesSource`` is read from its
    tables (sample chain, LIDAR_TOP sample_data, ego pose and calibration rows) without building
    the ``Scenario`` (cameras, boxes, ego track, map); any other source gives its scenario's frames."""
    if hasattr(source, "lidar_keyframes"):
        return source.lidar_keyframes(name)
    scenario = source.scenario(name)
    return scenario.token, scenario.frames


@dataclass(frozen=True)
class _Job:
    """One sample to score: its GT file (format, path) or, for a source without GT files, its GT frame;
    its prediction file, RayIoU origins (T, 3) in the ego frame, and the pose and time of its GT grid."""

    gt_file: tuple[OccFormat, Path] | None
    gt_frame: OccupancyFrame | None
    pred_path: Path
    origins_m: np.ndarray
    world_from_grid: Pose
    time_us: int


@dataclass(frozen=True)
class _Scored:
    """A sample's own counts: mIoU (C, C) per mask variant, RayIoU counts (with flow when both sides
    have it), whether each side has flow, and whether its GT rays came from the cache."""

    pred_path: Path
    occ: dict[str, np.ndarray]
    ray: RaySampleCounts
    gt_flow: bool
    pred_flow: bool
    cache_hit: bool


def _gt_file(dataroot: Path, scene_token: str, frame: Keyframe | Frame) -> tuple[OccFormat, Path] | None:
    """The first GT file of ``frame`` in ``dataroot`` (``NuScenesSource.occupancy``'s search order)."""
    candidates = occupancy_candidates(
        dataroot, frame.scene_name, scene_token, frame.sample_token, frame.lidar_token, frame.lidar_path
    )
    return next(((fmt, path) for fmt, path in candidates if path.is_file()), None)


def _world_from_grid(fmt: OccFormat, frame: Keyframe | Frame) -> Pose:
    return frame.world_from_ego if fmt.ego_frame else frame.world_from_ego @ frame.ego_from_lidar


def _gt_digest(fmt: OccFormat, data: bytes) -> bytes:
    return hashlib.blake2b(fmt.value.encode() + b"\0" + data, digest_size=20).digest()


def _occ3d_arrays(data: bytes, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(semantics uint8, mask_camera, mask_lidar bool) of Occ3D GT bytes that ``read_occ3d`` read and
    validated before (their digest names a cache entry, which holds the GT flow the rays need): the
    flow is not inflated; 0/1 single-byte masks are viewed as bool without a copy."""
    z = npz_arrays(data, path, ("semantics", "mask_camera", "mask_lidar"))
    masks = [m.view(np.bool_) if m.dtype.itemsize == 1 else m.astype(bool) for m in (z["mask_camera"], z["mask_lidar"])]
    return z["semantics"].astype(np.uint8, copy=False), masks[0], masks[1]


class _Scorer:
    """Scores one sample into its own counts (``_Scored``), from any thread: decodes the prediction
    and the GT (the prediction's flow only when the GT has flow), casts the rays (the GT half from the
    cache when it holds the sample), counts."""

    def __init__(self, gt0: OccupancyFrame, pred_labels: LabelSet, masks, cache: GtRayCache | None, parallel: bool):
        self.grid, self.labels, self.pred_labels = gt0.grid, gt0.labels, pred_labels
        self.occ = OccupancyMetric(OccupancyMetricConfig(gt0.grid, gt0.labels, masks))
        self.ray = RayIoUMetric(RayIoUConfig(gt0.grid, gt0.labels))
        self.cache, self.parallel = cache, parallel

    def _checked(self, gt: OccupancyFrame) -> OccupancyFrame:
        """``gt`` once its grid and label set are those of the first GT."""
        self.grid.require(gt.grid, f"OccupancyMetric: ground truth {gt.source or ''} grid")
        self.labels.require(gt.labels, f"OccupancyMetric: ground truth {gt.source or ''} labels")
        return gt

    def __call__(self, job: _Job) -> _Scored:
        key, hits, gt = None, None, None if job.gt_frame is None else self._checked(job.gt_frame)
        if job.gt_file is not None:
            fmt, path = job.gt_file
            data = _read_bytes(path)
            if self.cache is not None:
                key = self.cache.key(_gt_digest(fmt, data), job.origins_m)
                hits = self.cache.load(key)
            if hits is None or fmt is not OccFormat.OCC3D or self.labels != LabelSet.occ3d():
                gt = self._checked(read_occupancy(fmt, path, job.world_from_grid, job.time_us))
        if gt is not None:
            gt_sem, cam, lidar, gt_flow, where = gt.semantics, gt.mask_camera, gt.mask_lidar, gt.flow, gt.source
        else:
            (gt_sem, cam, lidar), gt_flow, where = _occ3d_arrays(data, path), None, str(path)
        has_gt_flow = gt_flow is not None if hits is None else hits.records.flow is not None
        pred, pred_flow, has_pred_flow = _prediction_arrays(
            job.pred_path, self.grid, self.pred_labels, self.labels, read_flow=has_gt_flow
        )
        occ = self.occ.sample_counts(gt_sem, pred, cam, lidar, source=where or "")
        cached = hits is not None
        if hits is None:
            gt_rec, pred_rec = cast_rays(
                [gt_sem, pred], job.origins_m, self.grid, self.labels, [gt_flow, None], parallel=self.parallel
            )
            hits = GtHits.from_records(gt_rec, self.labels.free_index)
            pred_rec = RayRecords(
                pred_rec.label[hits.rays], pred_rec.dist_m[hits.rays], pred_rec.voxel_index[hits.rays], pred_rec.shape
            )
            if key is not None and _gt_digest(fmt, path.read_bytes()) == _gt_digest(fmt, data):
                self.cache.store(key, hits)  # only when the file did not change while being scored
        else:
            rays = hits.rays
            pred_rec = cast_rays([pred], job.origins_m, self.grid, self.labels, rays=rays, parallel=self.parallel)[0]
        if has_gt_flow and has_pred_flow:  # the flow (validated when read) at the prediction's hit voxels
            gt_rec, pred_rec = hits.records, replace(pred_rec, flow=flow_at(pred_flow, pred_rec.voxel_index))
        else:
            gt_rec = replace(hits.records, flow=None)
        counts = self.ray.sample_counts(gt_rec, pred_rec)
        return _Scored(job.pred_path, occ, counts, has_gt_flow, has_pred_flow, cached)


def _evaluate_occupancy(
    source, names: list[str], pred_dir, pred_labels: LabelSet, allow_missing: bool, workers: int, cache_dir
) -> dict:
    files = prediction_files(pred_dir)
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        return _score_all(source, names, files, pred_dir, pred_labels, allow_missing, pool, cache_dir)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _score_all(source, names, files, pred_dir, pred_labels, allow_missing, pool, cache_dir) -> dict:
    """Enumerate the samples with GT scene by scene (``scene_keyframes``), handing each to the pool as
    soon as its scene is listed; refuse missing predictions once all are known; add the samples'
    counts in sample order."""
    tokens_gt, missing, pending = [], [], []
    scorer: _Scorer | None = None
    gt0: OccupancyFrame | None = None
    dataroot = Path(source.dataroot)
    for name in names:
        scene_token, frames = scene_keyframes(source, name)
        positions = None
        for i, frame in enumerate(frames):
            gt_file = _gt_file(dataroot, scene_token, frame)
            gt_frame = source.occupancy(frame) if gt_file is None else None
            if gt_file is None and gt_frame is None:
                continue
            tokens_gt.append(frame.sample_token)
            if scorer is None:  # the first GT sets the grid, label set and mask variants
                gt0 = gt_frame or read_occupancy(*gt_file, _world_from_grid(gt_file[0], frame), frame.time_us)
                cache = None
                if cache_dir is not None:
                    cache = GtRayCache(cache_dir, gt0.grid, gt0.labels, lidar_ray_directions(), PROTOCOL_VERSION)
                scorer = _Scorer(gt0, pred_labels, mask_variants(gt0), cache, parallel=pool is None)
            path = files.get(frame.sample_token)
            if path is None:
                missing.append(frame.sample_token)
                continue
            if positions is None:
                positions = lidar_world_positions(frames)
            origins = rayiou_origins(frame.world_from_ego, frame.ego_from_lidar, positions, ref_index=i)
            world_from_grid = frame.world_from_ego if gt_file is None else _world_from_grid(gt_file[0], frame)
            job = _Job(gt_file, gt_frame, path, origins, world_from_grid, frame.time_us)
            pending.append(pool.submit(scorer, job) if pool is not None else job)
    if not tokens_gt:
        raise DataError(f"{source.dataroot}: no sample has occupancy GT")
    _refuse_missing(f"{pred_dir}", missing, len(tokens_gt), allow_missing)
    occ, ray = scorer.occ, scorer.ray
    use_flow, hits = None, 0
    for item in pending:
        scored = item.result() if pool is not None else scorer(item)
        has_flow = scored.gt_flow and scored.pred_flow
        if use_flow is None:
            use_flow = has_flow
        elif use_flow != has_flow:
            raise DataError(f"{scored.pred_path}: flow present in some samples and absent in others (prediction or GT)")
        occ.add_counts(scored.occ)
        ray.add_counts(scored.ray)
        hits += scored.cache_hit
    return {
        **occ.compute(),
        **ray.compute(),
        "label_set": pred_labels.name,
        "gt_label_set": gt0.labels.name,
        "grid": {
            "name": gt0.grid.name,
            "range_min_m": gt0.grid.range_min_m,
            "voxel_size_m": gt0.grid.voxel_size_m,
            "shape": gt0.grid.shape,
            "frame": gt0.grid.frame,
        },
        "n_samples": occ.n_frames,
        "n_samples_gt": len(tokens_gt),
        "n_missing": len(missing),
        "n_predictions_without_gt": len(set(files) - set(tokens_gt)),
        "rayiou_gt_cache": {
            "folder": None if scorer.cache is None else str(scorer.cache.folder),
            "hits": hits,
            "cast": occ.n_frames - hits,
        },
    }


def _evaluate_plans(frames, gt_of, plan_file, allow_missing: bool) -> dict:
    plans = read_plans(plan_file)
    missing = [sc.frames[i].sample_token for sc, i in frames if sc.frames[i].sample_token not in plans]
    _refuse_missing(f"{plan_file}", missing, len(frames), allow_missing)
    metric = PlanningMetric()
    for sc, i in frames:
        xy = plans.get(sc.frames[i].sample_token)
        if xy is not None:
            metric.update(planning_sample(sc, i, Trajectory.from_xy(xy), gt_of))
    return {**metric.compute(), "plan/n_missing": float(len(missing))}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m occplan.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="nuScenes-format dataroot")
    ap.add_argument("--version", default=None, help="table version (default: the dataroot's only v1.0-* folder)")
    ap.add_argument("--pred-dir", default=None, help="directory of <sample_token>.npz predictions")
    ap.add_argument(
        "--label-set", default="occ3d", choices=sorted(LABEL_SETS), help="labels of the predictions (mapped by name)"
    )
    ap.add_argument("--plan-file", default=None, help="JSON {sample_token: [[x, y] x 6]} in the ego frame")
    ap.add_argument("--split", default=None, help="scene split (splits.json or devkit splits); default all")
    ap.add_argument("--out", default=None, help="write the JSON result here (missing parent folders are created)")
    ap.add_argument("--allow-missing", action="store_true", help="score only the samples that have predictions")
    ap.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="samples scored at once, in threads (default 2)"
    )
    ap.add_argument(
        "--cache-dir",
        default=None,
        help="folder of the RayIoU GT first-hit cache (default: $OCCPLAN_CACHE or ~/.cache/occplan)",
    )
    ap.add_argument("--no-cache", action="store_true", help="cast the GT rays of every sample; read no cache")
    args = ap.parse_args(argv)
    if args.pred_dir is None and args.plan_file is None:
        ap.error("give --pred-dir and/or --plan-file")
    from occplan.data import NuScenesSource
    from occplan.data.dataroot import resolve_dataroot

    out = prepare_output(args.out) if args.out else None
    source = NuScenesSource(*resolve_dataroot(args.data, args.version))
    cache_dir = None if args.no_cache else (args.cache_dir or cache_root())
    scored = evaluate(
        source, args.pred_dir, args.label_set, args.plan_file, args.allow_missing, args.split,
        workers=args.workers, cache_dir=cache_dir,
    )  # fmt: skip
    result = json_safe(scored)
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
    return 0


def prepare_output(path: str | Path) -> Path:
    """Check ``--out`` before any scoring: create its missing parent folders; ValidationError naming
    the path when it is a folder or cannot be written."""
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValidationError(f"--out {out}: cannot create its folder {out.parent} ({e.strerror})") from e
    if out.is_dir():
        raise ValidationError(f"--out {out}: is a folder; give a file name")
    if not os.access(out if out.exists() else out.parent, os.W_OK):
        raise ValidationError(f"--out {out}: not writable")
    return out


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, ValidationError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
