"""RunStore resume rules: atomic config.json, a corrupt config.json named, last-record newline and truncation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from occplan.errors import ValidationError
from occplan.harness import store as store_module
from occplan.harness.config import RunConfig
from occplan.harness.store import RunStore

CONFIG = RunConfig(model="oracle", planner="constant_velocity")
RESUME = RunConfig(model="oracle", planner="constant_velocity", resume=True)


def _record(name: str) -> str:
    return json.dumps({"scenario": name, "metrics": {"x": 1.0}}, sort_keys=True)


def _started(tmp_path: Path, results_text: str) -> Path:
    """A run directory as a killed run leaves it: config.json and the given results.jsonl text."""
    RunStore(tmp_path, CONFIG).open()
    (tmp_path / "results.jsonl").write_text(results_text)
    return tmp_path


def test_config_json_is_replaced_atomically(tmp_path, monkeypatch):
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src, dst):
        renamed.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", spy)
    RunStore(tmp_path, CONFIG).open()
    assert [dst for _, dst in renamed] == [tmp_path / "config.json"]
    assert renamed[0][0].parent == tmp_path and renamed[0][0] != tmp_path / "config.json"
    assert json.loads((tmp_path / "config.json").read_text()) == CONFIG.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "results.jsonl"]  # no temporary left


@pytest.mark.parametrize(("text", "what"), [('{"model": "ora', "not valid JSON"), ("[1, 2]", "expected a JSON object")])
def test_corrupt_config_json_is_named_on_resume(tmp_path, text, what):
    _started(tmp_path, _record("a") + "\n")
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValidationError, match=what) as e:
        RunStore(tmp_path, RESUME).open()
    assert str(tmp_path / "config.json") in str(e.value)


def test_complete_last_record_without_newline_is_kept(tmp_path):
    _started(tmp_path, _record("a") + "\n" + _record("b"))  # killed between the record and its newline
    assert set(RunStore(tmp_path, RESUME).open()) == {"a", "b"}
    store = RunStore(tmp_path, RESUME)
    assert set(store.open()) == {"a", "b"}
    store.append(json.loads(_record("c")))
    assert set(RunStore(tmp_path, RESUME).open()) == {"a", "b", "c"}
    assert (tmp_path / "results.jsonl").read_text() == "".join(_record(s) + "\n" for s in "abc")


def test_truncated_last_record_is_dropped_and_rerun(tmp_path, capsys):
    _started(tmp_path, _record("a") + "\n" + _record("b")[:20])
    store = RunStore(tmp_path, RESUME)
    assert set(store.open()) == {"a"}
    assert "discarding an incomplete last record" in capsys.readouterr().err
    assert (tmp_path / "results.jsonl").read_text() == _record("a") + "\n"
    store.append(json.loads(_record("b")))
    assert set(RunStore(tmp_path, RESUME).open()) == {"a", "b"}


def test_a_bad_line_before_the_last_is_an_error(tmp_path):
    _started(tmp_path, _record("a")[:10] + "\n" + _record("b") + "\n")
    with pytest.raises(ValidationError, match="results.jsonl: line 1 is not valid JSON"):
        RunStore(tmp_path, RESUME).open()
