"""resolve_dataroot: the one rule that turns a path (+ optional version) into a dataroot and table version."""

from __future__ import annotations

from pathlib import Path

import pytest

from occplan.data.dataroot import resolve_dataroot
from occplan.errors import ValidationError


def _root(tmp_path: Path, *versions: str) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    for v in versions:
        (root / v).mkdir()
    return root


def test_only_version_is_picked_and_path_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _root(tmp_path, "v1.0-occplan")
    (root / "maps").mkdir()
    (root / "v1.0-notes.txt").write_text("a file is not a table folder")
    monkeypatch.chdir(tmp_path)
    assert resolve_dataroot("root") == (root.resolve(), "v1.0-occplan")


def test_given_version_is_kept(tmp_path: Path) -> None:
    root = _root(tmp_path, "v1.0-mini", "v1.0-trainval")
    assert resolve_dataroot(root, "v1.0-trainval") == (root.resolve(), "v1.0-trainval")


def test_empty_folder_is_not_a_dataroot(tmp_path: Path) -> None:
    root = _root(tmp_path)
    with pytest.raises(ValidationError, match=r"root: is not a nuScenes dataroot \(no v1.0-\* table folder\)"):
        resolve_dataroot(root)
    with pytest.raises(ValidationError, match="is not a nuScenes dataroot"):
        resolve_dataroot(root, "v1.0-mini")  # the version cannot help: the folder holds no tables


def test_missing_folder_is_not_a_dataroot(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"nowhere: is not a nuScenes dataroot \(missing folder; no v1.0-\*"):
        resolve_dataroot(tmp_path / "nowhere")


def test_several_versions_need_one_named(tmp_path: Path) -> None:
    root = _root(tmp_path, "v1.0-trainval", "v1.0-mini")
    with pytest.raises(ValidationError, match=r"several table versions \['v1.0-mini', 'v1.0-trainval'\]; pass"):
        resolve_dataroot(root)


def test_unknown_version_lists_the_existing_ones(tmp_path: Path) -> None:
    root = _root(tmp_path, "v1.0-occplan")
    with pytest.raises(ValidationError, match=r"no table version 'v1.0-mini'; it holds \['v1.0-occplan'\]"):
        resolve_dataroot(root, "v1.0-mini")
