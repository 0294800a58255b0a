"""Fixtures of the simulator tests: the generated tiny scenes with their worlds."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_scenes(tiny_dataroot):
    """``envs.scenarios.DatasetScenarios`` over the tiny set (both splits; worlds cached per scene)."""
    from envs.scenarios import DatasetScenarios

    return DatasetScenarios(tiny_dataroot, "v1.0-occplan", split=None)
