"""Dataset-scale evaluation: the RayIoU GT first-hit cache, casting predictions along the counted GT
rays only, and scoring samples in threads leave every metric value unchanged; a changed GT file
misses its old cache entry; unreadable entries are misses."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from occplan.data import NuScenesSource
from occplan.errors import DataError, ValidationError
from occplan.evaluate import evaluate, read_prediction
from occplan.metrics.occupancy import OccupancyMetric, OccupancyMetricConfig
from occplan.metrics.rayiou import (
    GtHits,
    GtRayCache,
    RayIoUConfig,
    RayIoUMetric,
    RayRecords,
    cast_rays,
    lidar_ray_directions,
    scenario_rayiou_origins,
)
from occplan.types import GridSpec, LabelSet

GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()


def _write_predictions(source: NuScenesSource, folder: Path) -> None:
    """GT shifted one voxel along x, a block relabelled, flow scaled: imperfect but close predictions."""
    folder.mkdir()
    for name in source.scene_names():
        for f in source.scenario(name).frames:
            gt = source.occupancy(f)
            if gt is None:
                continue
            pred = np.roll(gt.semantics, 1, axis=0)
            pred[90:110, 90:110, 4:6] = 4
            flow = np.roll(gt.flow, 1, axis=0) * np.float32(0.9)
            np.savez_compressed(folder / f"{f.sample_token}.npz", pred=pred, flow=flow)


def _reference(source: NuScenesSource, pred_dir: Path) -> dict:
    """The definition, sample by sample: ``OccupancyMetric.update`` and ``RayIoUMetric.update_arrays``
    (all rays of GT and prediction cast together), no cache, no threads."""
    occ = OccupancyMetric(OccupancyMetricConfig(GRID, LABELS))
    ray = RayIoUMetric(RayIoUConfig(GRID, LABELS))
    for name in source.scene_names():
        sc = source.scenario(name)
        for i, f in enumerate(sc.frames):
            gt = source.occupancy(f)
            with np.load(pred_dir / f"{f.sample_token}.npz") as z:
                pred, flow = z["pred"], z["flow"]
            occ.update_arrays(gt.semantics, pred, gt.mask_camera, gt.mask_lidar)
            ray.update_arrays(gt.semantics, pred, scenario_rayiou_origins(sc, i), gt.flow, flow)
    return {**occ.compute(), **ray.compute()}


def _metrics(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "rayiou_gt_cache"}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        same = a[k] == b[k] or (isinstance(a[k], float) and np.isnan(a[k]) and np.isnan(b[k]))
        assert same, f"{k}: {a[k]!r} != {b[k]!r}"


@pytest.fixture
def dataroot(tiny_dataroot, tmp_path) -> Path:
    """The tiny dataroot with its own copy of ``gts/`` (the rest linked), so a test may change GT files."""
    root = tmp_path / "data"
    root.mkdir()
    for entry in tiny_dataroot.iterdir():
        if entry.name == "gts":
            shutil.copytree(entry, root / "gts")
        else:
            (root / entry.name).symlink_to(entry)
    return root


@pytest.mark.slow
def test_cache_and_threads_give_the_reference_values(dataroot, tmp_path):
    source = NuScenesSource(dataroot, "v1.0-occplan")
    pred_dir = tmp_path / "pred"
    _write_predictions(source, pred_dir)
    reference = _reference(source, pred_dir)
    assert reference["occ/rayiou"] < 100 and reference["flow/mave"] > 0  # imperfect predictions
    plain = evaluate(source, pred_dir, workers=1, cache_dir=None)
    cold = evaluate(source, pred_dir, workers=2, cache_dir=tmp_path / "cache")
    warm = evaluate(source, pred_dir, workers=2, cache_dir=tmp_path / "cache")
    warm_serial = evaluate(source, pred_dir, workers=1, cache_dir=tmp_path / "cache")
    n = plain["n_samples"]
    assert n > 0
    assert cold["rayiou_gt_cache"]["hits"] == 0 and cold["rayiou_gt_cache"]["cast"] == n
    assert warm["rayiou_gt_cache"]["hits"] == n and warm_serial["rayiou_gt_cache"]["hits"] == n
    assert len(list((tmp_path / "cache" / "rayiou-gt-v1").glob("*.bin"))) == n
    for result in (plain, cold, warm, warm_serial):
        _assert_same({k: result[k] for k in reference}, reference)
        _assert_same(_metrics(result), _metrics(plain))


@pytest.mark.slow
def test_changed_gt_file_misses_its_cache_entry(dataroot, tmp_path):
    source = NuScenesSource(dataroot, "v1.0-occplan")
    pred_dir = tmp_path / "pred"
    _write_predictions(source, pred_dir)
    cache = tmp_path / "cache"
    before = evaluate(source, pred_dir, cache_dir=cache)
    # rewrite one GT file: a car block in front of the ego, as its reader expects the fields
    frame = source.scenario(source.scene_names()[0]).frames[1]
    path = dataroot / "gts" / frame.scene_name / frame.sample_token / "labels.npz"
    with np.load(path) as z:
        fields = {k: z[k] for k in z.files}
    fields["semantics"][105:115, 95:105, 2:8] = 4
    np.savez_compressed(path, **fields)
    after = evaluate(NuScenesSource(dataroot, "v1.0-occplan"), pred_dir, cache_dir=cache)
    n = after["n_samples"]
    assert after["rayiou_gt_cache"] == {"folder": str(cache / "rayiou-gt-v1"), "hits": n - 1, "cast": 1}
    assert after["occ/rayiou"] != before["occ/rayiou"]
    fresh = evaluate(NuScenesSource(dataroot, "v1.0-occplan"), pred_dir, workers=1, cache_dir=None)
    _assert_same(_metrics(after), _metrics(fresh))


def _random_grid(rng: np.random.Generator) -> np.ndarray:
    sem = np.full(GRID.shape, LABELS.free_index, dtype=np.uint8)
    sem[:, :, :2] = 11  # ground
    blocks = rng.integers(0, 190, (40, 2))
    for (x, y), label in zip(blocks, rng.integers(0, 17, 40), strict=True):
        sem[x : x + 8, y : y + 8, 2 : rng.integers(3, 12)] = label
    return sem


def test_cast_along_listed_rays_equals_the_full_cast():
    rng = np.random.default_rng(3)
    gt, pred = _random_grid(rng), _random_grid(rng)
    origins = np.array([[0.9858, 0.0, 1.8402], [-12.5, 3.25, 1.7]])
    full_gt, full_pred = cast_rays([gt, pred], origins, GRID, LABELS)
    alone = cast_rays([pred], origins, GRID, LABELS)[0]
    rays = np.flatnonzero(full_gt.label != LABELS.free_index).astype(np.int64)
    assert 0 < len(rays) < 2 * 14040
    for parallel in (True, False):
        sub = cast_rays([pred], origins, GRID, LABELS, rays=rays, parallel=parallel)[0]
        for full in (full_pred, alone):
            np.testing.assert_array_equal(sub.label, full.label[rays])
            np.testing.assert_array_equal(sub.dist_m.view(np.uint32), full.dist_m[rays].view(np.uint32))
            np.testing.assert_array_equal(sub.voxel_index, full.voxel_index[rays])


def test_counts_on_the_counted_rays_equal_counts_on_all_rays():
    rng = np.random.default_rng(4)
    gt = _random_grid(rng)
    pred = np.roll(gt, 1, axis=1)
    pred[60:80, 60:80, 2:5] = 15
    gt_flow = rng.normal(size=(*GRID.shape, 2)).astype(np.float32)
    pred_flow = rng.normal(size=(*GRID.shape, 2)).astype(np.float32)
    origins = np.array([[0.9858, 0.0, 1.8402]])
    metric = RayIoUMetric()
    full_gt, full_pred = cast_rays([gt, pred], origins, GRID, LABELS, [gt_flow, pred_flow])
    hits = GtHits.from_records(full_gt, LABELS.free_index)
    r = hits.rays
    sub_pred = RayRecords(full_pred.label[r], full_pred.dist_m[r], None, GRID.shape, full_pred.flow[r])
    a, b = metric.sample_counts(full_gt, full_pred), metric.sample_counts(hits.records, sub_pred)
    for field in ("gt", "pred", "tp", "flow_count"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_array_equal(a.flow_error_sum, b.flow_error_sum)
    # the flow errors as defined: float32 L2 norm of the TP rays at 2 m, summed per GT class in ray order
    tp = (full_gt.label != 17) & (full_gt.label == full_pred.label)
    tp &= np.abs(full_pred.dist_m - full_gt.dist_m) < np.float32(2.0)
    err = np.linalg.norm(full_gt.flow[tp] - full_pred.flow[tp], axis=1)
    np.testing.assert_array_equal(a.flow_error_sum, np.bincount(full_gt.label[tp], weights=err, minlength=18))
    assert a.flow_count.sum() == tp.sum() > 0


def _cache(tmp_path: Path) -> GtRayCache:
    return GtRayCache(tmp_path, GRID, LABELS, lidar_ray_directions(), "test-protocol")


def test_cache_entry_round_trip_and_unreadable_entries(tmp_path):
    rng = np.random.default_rng(5)
    n = 3 * 14040
    label = rng.choice(np.array([4, 11, 17], np.uint8), n)
    flow = np.where(rng.random((n, 1)) < 0.1, rng.normal(size=(n, 2)), 0).astype(np.float32)
    flow[7] = (-0.0, 0.0)  # kept bit for bit
    full = RayRecords(label, rng.random(n).astype(np.float32) * 40, np.zeros(n, np.int32), GRID.shape, flow)
    hits = GtHits.from_records(full, 17)
    cache = _cache(tmp_path)
    origins = rng.normal(size=(3, 3))
    key = cache.key(b"gt-digest", origins)
    assert cache.load(key) is None
    cache.store(key, hits)
    back = cache.load(key)
    np.testing.assert_array_equal(back.rays, hits.rays)
    np.testing.assert_array_equal(back.records.label, hits.records.label)
    np.testing.assert_array_equal(back.records.dist_m.view(np.uint32), hits.records.dist_m.view(np.uint32))
    np.testing.assert_array_equal(back.records.flow.view(np.uint32), hits.records.flow.view(np.uint32))
    assert back.n_rays == n and list(tmp_path.rglob("*.tmp")) == []
    # another GT, other origins, another protocol or other directions: other entries
    assert cache.key(b"gt-digest-2", origins) != key
    assert cache.key(b"gt-digest", origins + 1e-9) != key
    other = GtRayCache(tmp_path, GRID, LABELS, lidar_ray_directions(), "test-protocol-2")
    assert other.key(b"gt-digest", origins) != key
    assert (
        GtRayCache(tmp_path, GRID, LABELS, lidar_ray_directions()[:100], "test-protocol").key(b"gt-digest", origins)
        != key
    )
    # a truncated entry and an entry under a foreign name read as misses
    data = cache.path(key).read_bytes()
    cache.path(key).write_bytes(data[: len(data) // 2])
    assert cache.load(key) is None
    cache.path(key).write_bytes(data)
    foreign = cache.key(b"gt-digest-3", origins)
    cache.path(foreign).write_bytes(data)
    assert cache.load(foreign) is None and cache.load(key) is not None


def test_non_finite_prediction_flow_names_the_file(tmp_path):
    flow = np.zeros((*GRID.shape, 2), np.float32)
    flow[3, 4, 5, 1] = np.nan
    path = tmp_path / "tok.npz"
    np.savez(path, pred=np.full(GRID.shape, 17, np.uint8), flow=flow)
    with pytest.raises(DataError, match=r"tok.npz: field 'flow' must be finite .*1 non-finite"):
        read_prediction(path, GRID, LABELS, LABELS)
    np.savez(path, pred=np.full(GRID.shape, 17, np.uint8), flow=np.zeros((*GRID.shape, 2), np.float64))
    assert read_prediction(path, GRID, LABELS, LABELS).flow.dtype == np.float32


def test_unusable_cache_dir_fails_before_scoring(tmp_path):
    (tmp_path / "file").write_text("")

    class NoSource:  # scoring would need a source: the folder is refused first
        dataroot, version = tmp_path, "v1.0-test"

    with pytest.raises(ValidationError, match=r"--cache-dir .*file.*cannot create it"):
        evaluate(NoSource(), tmp_path, cache_dir=tmp_path / "file" / "cache")
