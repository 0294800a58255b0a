"""``scenarios.datasets.ensure``: generated once, reused, regenerated when stale, never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from occplan.errors import ValidationError
from scenarios import datasets


@pytest.fixture
def fake_generate(monkeypatch):
    """Replace the (slow) generation by a stub that records calls and writes one file."""
    calls: list[Path] = []

    def generate(out: Path, cfg, progress: bool = True):
        calls.append(out)
        out.mkdir(parents=True)
        (out / "marker.txt").write_text(str(cfg.n_scenes))

    monkeypatch.setattr(datasets, "generate_dataroot", generate)
    return calls


def test_generated_once_then_reused(tmp_path, fake_generate):
    root = datasets.ensure("tiny", cache_dir=tmp_path)
    assert root == tmp_path / "tiny" and (root / "marker.txt").read_text() == "2"
    manifest = json.loads((root / datasets.MANIFEST).read_text())
    assert manifest == datasets.manifest_for(datasets.PRESETS["tiny"])
    assert datasets.ensure("tiny", cache_dir=tmp_path) == root
    assert len(fake_generate) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tiny.lock", "tiny"]


def test_stale_manifest_regenerates(tmp_path, fake_generate):
    root = datasets.ensure("tiny", cache_dir=tmp_path)
    manifest = json.loads((root / datasets.MANIFEST).read_text())
    (root / datasets.MANIFEST).write_text(json.dumps({**manifest, "writer_format_version": -1}))
    datasets.ensure("tiny", cache_dir=tmp_path)
    assert len(fake_generate) == 2
    assert json.loads((root / datasets.MANIFEST).read_text()) == manifest


def test_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def crash(out: Path, cfg, progress: bool = True):
        out.mkdir(parents=True)
        (out / "v1.0-occplan").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "generate_dataroot", crash)
    with pytest.raises(KeyboardInterrupt):
        datasets.ensure("tiny", cache_dir=tmp_path)
    assert not (tmp_path / "tiny").exists()
    monkeypatch.undo()
    monkeypatch.setattr(datasets, "generate_dataroot", lambda out, cfg, progress=True: out.mkdir(parents=True))
    root = datasets.ensure("tiny", cache_dir=tmp_path)
    assert (root / datasets.MANIFEST).is_file()
    assert not list(tmp_path.glob(".tiny.tmp-*"))


def test_cache_dir_from_environment(tmp_path, monkeypatch, fake_generate):
    monkeypatch.setenv("OCCPLAN_CACHE", str(tmp_path / "env-cache"))
    assert datasets.ensure("tiny") == tmp_path / "env-cache" / "tiny"


def test_unknown_preset_lists_known(tmp_path):
    with pytest.raises(ValidationError, match="mini, mini_val, tiny"):
        datasets.ensure("huge", cache_dir=tmp_path)


def test_ensure_split_generates_the_split_alone_until_the_full_set_is_cached(tmp_path, fake_generate):
    root = datasets.ensure_split("mini", "val", cache_dir=tmp_path)
    assert root == tmp_path / "mini_val" and len(fake_generate) == 1
    assert datasets.manifest_for(datasets.PRESETS["mini_val"])["config"]["only_split"] == "val"
    assert "only_split" not in datasets.manifest_for(datasets.PRESETS["mini"])["config"]  # mini's caches stay valid
    assert datasets.ensure_split("mini", "train", cache_dir=tmp_path) == tmp_path / "mini"  # no train-only preset
    assert datasets.ensure_split("mini", "val", cache_dir=tmp_path) == tmp_path / "mini"  # full set now cached
    assert len(fake_generate) == 2
