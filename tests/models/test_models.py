"""Every registered model through the shared checker; overfit steps; checkpoint round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import synthetic_scene as synth
import torch

import models
from models.checker import check_model
from models.checkpoint import save_checkpoint
from occplan.errors import DataError, RegistryError, ValidationError

TRAINABLE = models.trainable_models()


def random_init(name: str) -> dict:
    """Options that build model ``name`` untrained (no checkpoint needed)."""
    return {"weights": None} if "weights" in models.option_keys(name) else {}


def test_registry_names_and_unknown_name():
    assert {"lidar", "occnet", "oracle"} <= set(models.MODELS.names())
    assert {"lidar", "occnet"} <= set(TRAINABLE) and "oracle" not in TRAINABLE
    with pytest.raises(RegistryError, match="known: .*lidar, .*occnet, .*oracle"):
        models.create("nope")


@pytest.mark.parametrize("name", models.MODELS.names())
def test_every_model_declares_itself_on_its_class(name):
    cls = models.model_class(name)
    assert cls.name == name
    assert cls.inputs <= {"cameras", "lidar"} and (cls.inputs or cls.privileged)
    model = models.create(name, **random_init(name))
    req = model.sensor_request()
    assert bool(req.cameras) == ("cameras" in cls.inputs) and bool(req.lidar_sweeps) == ("lidar" in cls.inputs)


@pytest.mark.parametrize("name", models.MODELS.names())
def test_every_model_passes_the_checker(name):
    model = models.create(name, **random_init(name))
    frame = synth.sensor_frame(seed=3, with_ground_truth=model.privileged)
    pred = check_model(model, frame)
    assert pred.semantics.shape == (200, 200, 16) and pred.flow is not None
    if pred.point_labels is not None:
        assert len(pred.point_labels) == int(np.count_nonzero(frame.lidar.sweep_index == 0))
        assert pred.point_labels.min() >= 1
    if name == "oracle":
        np.testing.assert_array_equal(pred.semantics, synth.ground_truth().semantics)


def test_oracle_without_ground_truth_raises():
    with pytest.raises(ValidationError, match="ground_truth"):
        models.create("oracle").predict(synth.sensor_frame())


def _loss(model, batch, targets) -> float:
    torch.manual_seed(0)  # same Lovasz subset every time
    with torch.no_grad():
        return float(model.loss(model.forward(batch), targets)[0])


@pytest.mark.parametrize("name", TRAINABLE)
def test_training_steps_lower_the_loss_on_a_fixed_batch(name):
    torch.manual_seed(0)
    model = models.create(name, weights=None)
    frame = synth.sensor_frame(seed=1)
    batch = model.collate([model.encode(frame)])
    targets = model.collate_targets([model.targets(frame, synth.ground_truth(), synth.lidarseg(frame))])
    model.net.train()
    opt = torch.optim.Adam(model.net.parameters(), lr=2e-3)
    before = _loss(model, batch, targets)
    for _ in range(2):
        loss, parts = model.loss(model.forward(batch), targets)
        opt.zero_grad()
        model.backward(loss)
        assert all(np.isfinite(v) for v in parts.values())
        opt.step()
    assert _loss(model, batch, targets) < before


@pytest.mark.parametrize("name", TRAINABLE)
def test_checkpoint_round_trip_reproduces_predictions(name, tmp_path):
    torch.manual_seed(2)
    model = models.create(name, weights=None)
    model.set_class_weights(np.linspace(0.5, 1.5, 18))
    stem = tmp_path / name
    weights = save_checkpoint(stem, model.net, model.meta())
    again = models.create(name, weights=weights)
    frame = synth.sensor_frame(seed=4)
    a, b = model.predict(frame), again.predict(frame)
    np.testing.assert_array_equal(a.semantics, b.semantics)
    np.testing.assert_array_equal(a.flow, b.flow)
    assert again.class_weights.tolist() == pytest.approx(np.linspace(0.5, 1.5, 18).tolist())

    meta = json.loads(stem.with_suffix(".json").read_text())
    stem.with_suffix(".json").write_text(json.dumps({**meta, "model": "other"}))
    with pytest.raises(DataError, match="field 'model'"):
        models.create(name, weights=weights)
    stem.with_suffix(".json").write_text(json.dumps({**meta, "config": {**meta["config"], "bogus": 1}}))
    with pytest.raises(ValidationError, match="unknown config key"):
        models.create(name, weights=weights)


def test_unknown_preset_and_missing_checkpoint():
    with pytest.raises(ValidationError, match="known: base, tiny"):
        models.create("lidar", config="huge", weights=None)
    with pytest.raises(DataError, match="not found"):
        models.create("occnet", weights="/nonexistent/occnet.safetensors")


def test_checker_rejects_a_nondeterministic_model():
    from occplan.interfaces import PerceptionModel
    from occplan.types import OccupancyPrediction

    class Noisy(PerceptionModel):
        name = "noisy"

        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(0)

        def _predict(self, frame):
            sem = self.rng.integers(0, 18, self.grid.shape).astype(np.uint8)
            return OccupancyPrediction(sem, self.grid, self.labels)

    with pytest.raises(ValidationError, match="not deterministic"):
        check_model(Noisy(), synth.sensor_frame())
