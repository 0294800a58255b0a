"""Fixtures of the data-layer tests: the real extract opened once, and synthetic dataroots."""

from __future__ import annotations

from pathlib import Path

import pytest

from occplan.data import NuScenesSource

from . import synthetic


@pytest.fixture(scope="session")
def real_source(real_mini: Path) -> NuScenesSource:
    return NuScenesSource(real_mini, "v1.0-mini")


@pytest.fixture(scope="session")
def real_scenarios(real_source: NuScenesSource) -> list:
    return [real_source.scenario(name) for name in real_source.scene_names()]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only synthetic dataroot (polygon map); tests that modify files build their own."""
    return synthetic.write_dataroot(tmp_path_factory.mktemp("synth") / "root")


@pytest.fixture(scope="session")
def synth_source(synth_root: Path) -> NuScenesSource:
    return NuScenesSource(synth_root, synthetic.VERSION)
