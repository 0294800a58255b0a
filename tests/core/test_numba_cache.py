"""The numba cache folder follows every numba source of the project."""

from __future__ import annotations

import numba

from occplan.numba_cache import sources_hash


def _tree(root, helper_body: str) -> None:
    (root / "occplan").mkdir()
    (root / "occplan" / "kernel.py").write_text("import numba\n@numba.njit(cache=True)\ndef f(x):\n    return g(x)\n")
    (root / "occplan" / "helper.py").write_text(
        f"import numba\n@numba.njit(cache=True)\ndef g(x):\n    {helper_body}\n"
    )
    (root / "occplan" / "plain.py").write_text("X = 1\n")


def test_a_change_to_a_helper_in_another_module_changes_the_cache_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _tree(a, "return x + 1")
    _tree(b, "return x + 2")
    assert sources_hash(a, ("occplan",)) != sources_hash(b, ("occplan",))
    before = sources_hash(a, ("occplan",))
    (a / "occplan" / "plain.py").write_text("X = 2\n")  # a file without numba does not matter
    assert sources_hash(a, ("occplan",)) == before


def test_occplan_points_numba_at_the_hashed_folder():
    import os
    from pathlib import Path

    import occplan  # configures the cache on import

    folder = Path(numba.config.CACHE_DIR)
    if os.environ.get("NUMBA_CACHE_DIR") and folder.parent.name != "numba":
        return  # the user's own setting stands
    root = Path(occplan.__file__).resolve().parents[1]
    assert folder.name == sources_hash(root) and folder.parent.name == "numba"
