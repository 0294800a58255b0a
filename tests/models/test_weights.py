"""Weights of the torch models: shipped weights or an error naming the missing file; random init only when asked."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import models
from models import torch_base
from models.checkpoint import save_checkpoint
from occplan.errors import DataError, ValidationError

TRAINABLE = models.trainable_models()


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_trainable_model_ships_tiny_weights_with_its_command(name):
    meta = json.loads(torch_base.shipped_weights(name, "tiny").with_suffix(".json").read_text())
    assert meta["model"] == name and meta["step"] > 0
    assert torch_base.shipped_weights(name, "tiny").stat().st_size <= 5 * 1024 * 1024


@pytest.mark.parametrize("name", TRAINABLE)
def test_missing_shipped_weights_are_an_error(name, tmp_path, monkeypatch):
    monkeypatch.setattr(torch_base, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(DataError, match=f"{tmp_path / f'{name}_tiny.safetensors'}: shipped weights") as e:
        models.create(name)
    assert "weights='random'" in str(e.value)


def test_unshipped_preset_is_an_error_naming_the_file():
    with pytest.raises(DataError, match=r"lidar_base\.safetensors: shipped weights of lidar config 'base' not found"):
        models.create("lidar", config="base")


def test_auto_weights_need_a_preset():
    with pytest.raises(ValidationError, match="needs a preset name"):
        models.create("lidar", config={"n_sweeps": 3})


@pytest.mark.parametrize("name", TRAINABLE)
def test_random_weights_when_asked(name, tmp_path, monkeypatch):
    shipped = models.create(name)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for: no warning
        random = models.create(name, weights="random")
    assert random.config == shipped.config
    a, b = shipped.net.state_dict(), random.net.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    assert all(torch.equal(b[k], v) for k, v in models.create(name, weights=None).net.state_dict().items())

    monkeypatch.setattr(torch_base, "WEIGHTS_DIR", tmp_path)  # the folder "auto" reads from
    save_checkpoint(tmp_path / f"{name}_tiny", random.net, random.meta())
    reloaded = models.create(name).net.state_dict()  # "auto" reads WEIGHTS_DIR
    assert all(torch.equal(b[k], v) for k, v in reloaded.items())
