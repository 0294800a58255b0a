"""Every registered perception model runs through the harness in open and in closed loop on the tiny set."""

from __future__ import annotations

import math
import re

import pytest

from models import MODELS
from occplan.harness.config import RunConfig
from run_closed_loop import evaluate

HEADLINE = ("occ/miou", "occ/iou_geo", "occ/rayiou")
PREFIX = {"open": "", "closed": "closed/"}  # where each pass reports its perception


def _occupancy(summary: dict, prefix: str) -> dict:
    """The occupancy figures (percent) of a pass; counts such as ``occ/n_frames`` left out."""
    return {
        k.removeprefix(prefix): v
        for k, v in summary.items()
        if k.startswith(f"{prefix}occ/") and not re.search(r"(^|_)n_", k.split("/")[-1])
    }


@pytest.mark.parametrize("mode", ["open", "closed"])
@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_runs_through_the_harness(tiny_dataroot, tmp_path, name, mode):
    config = RunConfig(
        model=name, planner="constant_velocity", data=str(tiny_dataroot), scenes=("scene-0001",), mode=mode,
        max_decisions=2, plots=False, wandb=False, out=str(tmp_path / "run"),
    )  # fmt: skip
    summary = evaluate(config)
    occupancy = _occupancy(summary, PREFIX[mode])
    for key, value in occupancy.items():  # None: a class absent from both GT and prediction
        assert value is None or (math.isfinite(value) and 0 <= value <= 100), (key, value)
    assert all(math.isfinite(occupancy[k]) for k in HEADLINE), {k: occupancy.get(k) for k in HEADLINE}
    if name == "oracle":  # privileged: the GT itself
        assert occupancy["occ/miou"] == occupancy["occ/rayiou"] == 100
    if mode == "closed":
        assert summary["sim/n_episodes"] == 1
