"""``python -m occplan.evaluate --out``: missing parent folders are created, an unusable path fails before scoring."""

from __future__ import annotations

import json

import pytest

from occplan import evaluate as evaluate_module
from occplan.errors import ValidationError


def _scoring_stub(calls: list):
    def stub(source, pred_dir, label_set, plan_file, allow_missing, split, **options):
        calls.append(source.version)
        return {"occ/miou": 50.0, "flow/mave": float("nan")}

    return stub


def test_out_parent_folders_are_created(tiny_dataroot, tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(evaluate_module, "evaluate", _scoring_stub(calls))
    out = tmp_path / "missing" / "dir" / "f.json"
    args = ["--data", str(tiny_dataroot), "--pred-dir", str(tmp_path), "--out", str(out)]
    assert evaluate_module.main(args) == 0
    assert calls == ["v1.0-occplan"]  # the dataroot's only table version
    assert json.loads(out.read_text()) == {"occ/miou": 50.0, "flow/mave": None}


@pytest.mark.parametrize("kind", ["parent_is_a_file", "out_is_a_folder"])
def test_unusable_out_fails_before_scoring(tiny_dataroot, tmp_path, monkeypatch, kind):
    calls: list = []
    monkeypatch.setattr(evaluate_module, "evaluate", _scoring_stub(calls))
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "f.json" if kind == "parent_is_a_file" else tmp_path
    args = ["--data", str(tiny_dataroot), "--pred-dir", str(tmp_path), "--out", str(out)]
    with pytest.raises(ValidationError, match=f"--out {out}: "):
        evaluate_module.main(args)
    assert calls == []


def test_empty_data_folder_is_not_a_dataroot(tmp_path):
    with pytest.raises(ValidationError, match="is not a nuScenes dataroot"):
        evaluate_module.main(["--data", str(tmp_path), "--pred-dir", str(tmp_path)])
