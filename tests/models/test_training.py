"""Dataset, training (checkpoints, resume) and evaluation on the generated "tiny" dataroot."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import models
from models.evaluate import main as evaluate_main
from models.train import WARMUP_FRACTION, warmup_fraction
from models.train import main as train_main


@pytest.fixture(scope="module")
def tiny_root(request):
    try:
        return request.getfixturevalue("tiny_dataroot")
    except pytest.FixtureLookupError:
        from scenarios.datasets import ensure

        return ensure("tiny")


@pytest.fixture(scope="module")
def source(tiny_root):
    from models.evaluate import open_source

    return open_source(tiny_root)


def test_dataset_samples_match_the_model(source):
    from models.dataset import OccDataset

    model = models.create("lidar", weights=None)
    ds = OccDataset(source, "train", model, max_frames=1)
    inputs, targets = ds.collate([ds[0]])
    assert targets["sem"].shape == (1, 200, 200, 16)
    assert len(inputs["point_voxel"]) == len(targets["point_labels"])
    assert int(targets["point_labels"].max()) > 0  # lidarseg present in the generated data


@pytest.mark.slow
def test_train_resume_and_evaluate_lidar(tiny_root, tmp_path, capsys):
    common = ["--model", "lidar", "--data", str(tiny_root), "--max-frames", "1", "--out", str(tmp_path)]
    assert train_main([*common, "--iters", "1", "--workers", "0"]) == 0
    meta = json.loads((tmp_path / "lidar_tiny.json").read_text())
    assert meta["step"] == 1 and len(meta["loss_history"]) == 1 and meta["model"] == "lidar"
    assert (tmp_path / "lidar_tiny.optim.pt").is_file()
    assert train_main([*common, "--iters", "2", "--workers", "0", "--resume"]) == 0
    meta = json.loads((tmp_path / "lidar_tiny.json").read_text())
    assert meta["step"] == 2 and len(meta["loss_history"]) == 2
    # the resumed run's schedule is the 2-iteration one (stretched from 1), not the first run's
    import torch

    saved = torch.load(tmp_path / "lidar_tiny.optim.pt", weights_only=True)["scheduler"]
    fresh = torch.optim.lr_scheduler.OneCycleLR(
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2e-3), max_lr=2e-3, total_steps=2, pct_start=0.1
    )
    assert saved["total_steps"] == 2 and saved["_schedule_phases"] == fresh._schedule_phases

    weights = str(tmp_path / "lidar_tiny.safetensors")
    out = tmp_path / "eval.json"
    assert (
        evaluate_main(
            ["--model", "lidar", "--data", str(tiny_root), "--weights", weights, "--max-frames", "1", "--out", str(out)]
        )
        == 0
    )
    report = json.loads(out.read_text())
    for key in ("occ/miou", "occ/iou_geo", "lidarseg/miou", "lidarseg/coverage", "runtime/model_ms"):
        assert key in report and np.isfinite(report[key]), key


def test_height_majority_baseline_and_oracle(tiny_root, tmp_path):
    out = tmp_path / "base.json"
    assert (
        evaluate_main(["--model", "height_majority", "--data", str(tiny_root), "--max-frames", "1", "--out", str(out)])
        == 0
    )
    base = json.loads(out.read_text())
    assert 0 <= base["occ/miou"] < 50
    assert evaluate_main(["--model", "oracle", "--data", str(tiny_root), "--max-frames", "1", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["occ/miou"] == pytest.approx(100.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.trainable_models())
def test_every_trainable_model_trains_two_iterations_on_a_dataroot(name, tiny_root, tmp_path):
    """``models.train`` on a nuScenes-format dataroot with Occ3D gts/ and sweeps: two iterations, a
    checkpoint that loads back as the model."""
    args = ["--model", name, "--data", str(tiny_root), "--max-frames", "2", "--out", str(tmp_path), "--workers", "0"]
    assert train_main([*args, "--iters", "2", "--ckpt-every", "2"]) == 0
    meta = json.loads((tmp_path / f"{name}_tiny.json").read_text())
    assert meta["model"] == name and meta["step"] == 2 and all(np.isfinite(meta["loss_history"]))
    assert models.create(name, weights=str(tmp_path / f"{name}_tiny.safetensors")).name == name


def test_init_fine_tunes_from_a_checkpoint_and_records_it(tiny_root, tmp_path):
    """``--init``: the run starts from the given weights (a step at learning rate 0 leaves them unchanged) with its
    class weights, and the JSON names the checkpoint it started from; another model's checkpoint is refused."""
    from safetensors.numpy import load_file

    from models.torch_base import shipped_weights
    from occplan.errors import DataError

    shipped = shipped_weights("lidar", "tiny")
    args = ["--model", "lidar", "--data", str(tiny_root), "--max-frames", "1", "--out", str(tmp_path), "--workers", "0"]
    assert train_main([*args, "--iters", "1", "--lr", "0", "--init", str(shipped)]) == 0
    meta = json.loads((tmp_path / "lidar_tiny.json").read_text())
    prior = json.loads(shipped.with_suffix(".json").read_text())
    assert meta["init"]["weights"] == str(shipped) and meta["init"]["step"] == prior["step"]
    assert meta["class_weights"] == prior["class_weights"] and meta["step"] == 1
    got, want = load_file(tmp_path / "lidar_tiny.safetensors"), load_file(shipped)
    learned = [k for k in want if "running_" not in k and "num_batches" not in k]  # batch-norm statistics move
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in learned)
    other = shipped_weights("occnet", "tiny")
    with pytest.raises(DataError, match=r"occnet_tiny\.json: field 'model' is 'occnet', expected 'lidar'"):
        train_main([*args, "--iters", "1", "--init", str(other)])


def test_freeze_holds_a_prefix_fixed_and_trains_the_rest(tiny_root, tmp_path):
    """``--freeze PREFIX``: every tensor under the prefix, batch-norm running statistics included, leaves the run
    as it came in; the other learned tensors move; a prefix that names no parameter is refused."""
    from safetensors.numpy import load_file

    from models.torch_base import shipped_weights

    shipped = shipped_weights("lidar", "tiny")
    args = ["--model", "lidar", "--data", str(tiny_root), "--max-frames", "1", "--out", str(tmp_path), "--workers", "0"]
    assert train_main([*args, "--iters", "2", "--lr", "1e-2", "--init", str(shipped), "--freeze", "unet."]) == 0
    got, want = load_file(tmp_path / "lidar_tiny.safetensors"), load_file(shipped)
    frozen = [k for k in want if k.startswith("unet.")]
    assert frozen and all(np.array_equal(got[k], want[k]) for k in frozen)
    rest = [k for k in want if not k.startswith("unet.") and "running_" not in k and "num_batches" not in k]
    assert rest and any(not np.array_equal(got[k], want[k]) for k in rest)
    assert json.loads((tmp_path / "lidar_tiny.json").read_text())["train_config"]["freeze"] == ["unet."]
    with pytest.raises(ValueError, match="--freeze 'nothing.': no parameter"):
        train_main([*args, "--iters", "1", "--freeze", "nothing."])


def test_init_from_a_checkpoint_without_a_new_part_starts_it_fresh_and_records_it(tiny_root, tmp_path):
    """``--init`` from a checkpoint that lacks a parameter of the network (a part added since) and holds another in
    a different shape (a part widened since): the other weights load, those two keep their initial values and the
    JSON lists them; a key the network lacks is refused."""
    from safetensors.numpy import load_file, save_file

    from models.torch_base import shipped_weights
    from occplan.errors import DataError

    shipped = shipped_weights("lidar", "tiny")
    state = load_file(shipped)
    dropped, widened = sorted(k for k in state if k.endswith(".bias") and "running" not in k)[-2:]
    older = tmp_path / "older" / "lidar_tiny.safetensors"
    older.parent.mkdir()
    save_file({**{k: v for k, v in state.items() if k != dropped}, widened: np.zeros(1, np.float32)}, older)
    older.with_suffix(".json").write_text(shipped.with_suffix(".json").read_text())
    out = tmp_path / "out"
    args = ["--model", "lidar", "--data", str(tiny_root), "--max-frames", "1", "--out", str(out), "--workers", "0"]
    assert train_main([*args, "--iters", "1", "--lr", "0", "--init", str(older)]) == 0
    meta = json.loads((out / "lidar_tiny.json").read_text())
    assert sorted(meta["init"]["new_parameters"]) == sorted([dropped, widened])
    assert meta["init"]["weights"] == str(older)
    got = load_file(out / "lidar_tiny.safetensors")
    kept = [k for k in state if k not in (dropped, widened) and "running_" not in k and "num_batches" not in k]
    assert all(np.array_equal(got[k], state[k]) for k in kept)
    for k in (dropped, widened):  # their initial values: neither the shipped ones nor the file's zeros
        assert got[k].shape == state[k].shape and not np.array_equal(got[k], state[k])
    save_file({**state, "extra.weight": np.zeros(1, np.float32)}, older)
    with pytest.raises(DataError, match=r"unexpected \['extra\.weight'\]"):
        train_main([*args, "--iters", "1", "--init", str(older)])


def test_evaluate_resets_per_scene_or_before_every_frame(source):
    """``evaluate`` resets a model at each new scene; with ``no_history`` (the temporal ablation) before every
    frame. The metrics of a memoryless model do not change."""
    from models.evaluate import evaluate
    from models.oracle import OracleModel

    class CountingOracle(OracleModel):
        def __init__(self) -> None:
            super().__init__()
            self.resets: list[str | None] = []

        def reset(self, scene_name: str | None) -> None:
            self.resets.append(scene_name)

    first = source.scene_names()[0]
    n = len(source.scenario(first).frames) + 1  # every frame of the first scene and one of the next
    with_memory, without = CountingOracle(), CountingOracle()
    a = evaluate(with_memory, source, None, n, progress=False)
    b = evaluate(without, source, None, n, progress=False, no_history=True)
    assert with_memory.resets == [first, source.scene_names()[1]] and len(without.resets) == n
    keys = [k for k in a if k.startswith("occ/")]
    assert np.array_equal([a[k] for k in keys], [b[k] for k in keys], equal_nan=True)  # absent classes: NaN
    assert a["occ/miou"] == pytest.approx(100.0)


def test_one_cycle_schedule_runs_for_every_short_run():
    """OneCycleLR divides by zero when its warm-up is exactly one step (``--iters 10`` at 10 %): that run
    warms up over two steps; every other length keeps the 10 % warm-up."""
    for iters in range(1, 120):
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1e-3, total_steps=iters, pct_start=warmup_fraction(iters)
        )
        for _ in range(iters - 1):
            opt.step()
            sched.step()
        assert warmup_fraction(iters) == (0.2 if iters == 10 else WARMUP_FRACTION)
