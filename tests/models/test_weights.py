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


def test_a_config_dict_other_than_the_checkpoints_is_refused_not_ignored():
    from models.torch_base import shipped_weights

    path = shipped_weights("sparseocc", "tiny")
    stored = models.create("sparseocc").config
    same = models.create("sparseocc", config={"keep": list(stored.keep)}, weights=str(path))
    assert same.config == stored
    with pytest.raises(ValidationError, match=r"sparseocc_tiny\.json: field 'config' differs .* in \['keep'\]"):
        models.create("sparseocc", config={"keep": [1000, 5000, 12000, 40000]}, weights=str(path))


def test_a_preset_name_other_than_the_checkpoints_is_refused_and_no_config_runs_the_checkpoints(tmp_path):
    """``weights=PATH``: without a config the checkpoint's own runs; a named preset must equal it."""
    base = models.create("lidar", config="base", weights="random")
    save_checkpoint(tmp_path / "lidar_base", base.net, base.meta())
    path = str(tmp_path / "lidar_base.safetensors")
    assert models.create("lidar", weights=path).config == base.config
    assert models.create("lidar", config="base", weights=path).config == base.config
    with pytest.raises(ValidationError, match=r"lidar_base\.json: field 'config' differs from the preset 'tiny'"):
        models.create("lidar", config="tiny", weights=path)
    assert models.create("lidar", weights="random").config == models.create("lidar", config="tiny").config


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


def test_half_copy_stores_learned_tensors_as_float16_and_loads_back(tmp_path):
    """``python -m models.checkpoint --half``: learned tensors become float16 (half the bytes), batch-norm
    statistics stay float32 and exact, the JSON says so, and the copy loads into the float32 network with every
    tensor equal to the float16 rounding of the original."""
    from safetensors.torch import load_file

    from models.checkpoint import load_weights
    from models.checkpoint import main as checkpoint_main

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(4, 2))
    with torch.no_grad():
        net[1].running_var.copy_(torch.rand(8) * 1e-6)  # below float16's normal range
    src = save_checkpoint(tmp_path / "full", net, {"model": "toy", "step": 3})
    dst = tmp_path / "half" / "toy.safetensors"
    assert checkpoint_main(["--half", str(src), str(dst)]) == 0
    stored = load_file(str(dst))
    assert stored["0.weight"].dtype == torch.float16 and stored["2.bias"].dtype == torch.float16
    assert stored["1.running_var"].dtype == torch.float32 and stored["1.num_batches_tracked"].dtype == torch.int64
    assert json.loads(dst.with_suffix(".json").read_text()) == {"model": "toy", "step": 3, "stored_half": True}
    again = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(4, 2))
    assert load_weights(dst, again) == []
    for key, value in net.state_dict().items():
        got = again.state_dict()[key]
        want = value if ".running_" in key or value.dtype != torch.float32 else value.half().float()
        assert got.dtype == value.dtype and torch.equal(got, want), key


def test_drop_copy_leaves_out_prefixed_tensors_and_feeds_init(tmp_path):
    """``python -m models.checkpoint IN OUT --drop PREFIX``: the copy lacks exactly the tensors under the prefix, the
    JSON lists them, the rest is byte-equal, and a network without that part loads it; a prefix naming no tensor is
    refused."""
    from models.checkpoint import load_weights
    from models.checkpoint import main as checkpoint_main

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2), torch.nn.Linear(2, 2))
    src = save_checkpoint(tmp_path / "full", net, {"model": "toy", "step": 3})
    dst = tmp_path / "drop" / "toy.safetensors"
    assert checkpoint_main([str(src), str(dst), "--drop", "2."]) == 0
    assert json.loads(dst.with_suffix(".json").read_text()) == {
        "model": "toy",
        "step": 3,
        "dropped": ["2.bias", "2.weight"],
    }
    smaller = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    assert load_weights(dst, smaller) == []
    for key, value in smaller.state_dict().items():
        assert torch.equal(value, net.state_dict()[key]), key
    with pytest.raises(DataError, match=r"no tensor name starts with --drop 'head\.'"):
        checkpoint_main([str(src), str(dst), "--drop", "head."])
