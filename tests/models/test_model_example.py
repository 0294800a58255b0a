"""docs/EXTENDING.md's example model, run as written: registered with one line, checked, trained by
``models.train``, scored by ``models.evaluate`` and run by the harness with its trained weights."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import synthetic_scene as synth

import models
from models.checker import check_model
from models.evaluate import main as evaluate_main
from models.train import main as train_main
from occplan.harness.config import RunConfig
from run_closed_loop import evaluate

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXTENDING.md"


@pytest.fixture
def pillars(monkeypatch):
    """The page's ``models/pillars/model.py`` as module ``pillars_example``, registered as ``pillars``."""
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[1]
    module = types.ModuleType("pillars_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    monkeypatch.setattr(models.MODELS, "_factories", {**models.MODELS._factories})
    monkeypatch.setattr(models, "_CLASS_PATHS", {**models._CLASS_PATHS})
    models.register_model("pillars", "pillars_example:PillarsModel")
    return module


def test_the_example_model_is_registered_and_passes_the_checker(pillars):
    assert "pillars" in models.trainable_models() and models.model_class("pillars") is pillars.PillarsModel
    pred = check_model(models.create("pillars", weights="random"), synth.sensor_frame(seed=3))
    assert pred.semantics.shape == (200, 200, 16) and not pred.flow.any()


@pytest.mark.slow
def test_the_example_model_trains_evaluates_and_runs(pillars, tiny_dataroot, tmp_path):
    data = str(tiny_dataroot)
    common = ["--model", "pillars", "--data", data, "--max-frames", "2"]
    assert train_main([*common, "--iters", "2", "--ckpt-every", "2", "--workers", "0", "--out", str(tmp_path)]) == 0
    weights = tmp_path / "pillars_tiny.safetensors"
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["model"] == "pillars" and meta["step"] == 2

    report = tmp_path / "eval.json"
    assert evaluate_main([*common, "--split", "val", "--weights", str(weights), "--out", str(report)]) == 0
    assert 0.0 <= json.loads(report.read_text())["occ/miou"] <= 100.0

    config = RunConfig(
        model="pillars", planner="pdm", data=data, split=None, scenes=("scene-0001",), mode="open",
        out=str(tmp_path / "run"), plots=False, max_decisions=2, model_options={"weights": str(weights)},
    )  # fmt: skip
    summary = evaluate(config)
    assert np.isfinite(summary["occ/miou"]) and summary["config"]["model"] == "pillars"
