"""Plugin options from YAML and flags (``--weights``, ``--model-config``, ``--planner-option``): parsed,
validated against the plugin before the run folder exists, recorded in config.json, compared on
``--resume``, and reaching the plugin (a planner setting changes the drive; the shipped checkpoint
given by path drives like the default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from occplan.errors import ValidationError
from occplan.harness.cli import config_from_args
from occplan.harness.config import RunConfig, from_mapping
from occplan.harness.plugins import instance
from occplan.harness.store import RunStore
from run_closed_loop import main, plugins

REPO = Path(__file__).resolve().parents[2]
SHIPPED_LIDAR = REPO / "models" / "weights" / "lidar_tiny.safetensors"


def quick_args(dataroot: Path, out: Path, model: str = "oracle") -> list[str]:
    return [
        "--model", model, "--planner", "pdm", "--data", str(dataroot), "--scenes", "scene-0001", "--mode", "closed",
        "--max-decisions", "4", "--no-plots", "--out", str(out),
    ]  # fmt: skip


def summary(out: Path) -> dict:
    """summary.json without what legitimately differs between runs (config, wall times)."""
    s = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in s.items() if k != "config" and not k.startswith("runtime/")}


def test_flags_fill_the_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_cfg = tmp_path / "net.yaml"
    model_cfg.write_text("voxel_m: 0.4\nchannels: [8, 16]\n")
    c = config_from_args(
        ["--weights", "ckpt.safetensors", "--model-config", "tiny", "--planner-option", "min_progress_m=8",
         "--planner-option", "speed_fractions=[0.5, 0]", "--planner-option", "idm.min_gap_m=2.5",
         "--planner-option", "label=a=b", "--planner-option", "flag=true"]
    )  # fmt: skip
    assert dict(c.model_options) == {"weights": str(tmp_path / "ckpt.safetensors"), "config": "tiny"}
    assert dict(c.planner_options) == {
        "min_progress_m": 8, "speed_fractions": [0.5, 0], "idm.min_gap_m": 2.5, "label": "a=b", "flag": True,
    }  # fmt: skip
    assert dict(config_from_args(["--model-config", str(model_cfg)]).model_options) == {
        "config": {"voxel_m": 0.4, "channels": [8, 16]}
    }
    assert dict(config_from_args(["--weights", "random"]).model_options) == {"weights": "random"}
    assert config_from_args([]).model_options == {} and config_from_args([]).planner_options == {}


def test_yaml_options_and_flags_merge(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("planner_options:\n  min_progress_m: 3\n  path_step_m: 0.25\nmodel_options: {device: cpu}\n")
    c = config_from_args(["--config", str(cfg), "--planner-option", "min_progress_m=7", "--model-config", "base"])
    assert dict(c.planner_options) == {"min_progress_m": 7, "path_step_m": 0.25}
    assert dict(c.model_options) == {"device": "cpu", "config": "base"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--planner-option", "speed"], "expected KEY=VALUE, got 'speed'"),
        (["--planner-option", "=3"], "expected KEY=VALUE"),
        (["--model-config", "missing.json"], "missing.json: model config file not found"),
    ],
)
def test_bad_flags_are_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match=message):
        config_from_args(args)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--planner-option", "speed_limit_mps=8"], "unknown option 'speed_limit_mps' of PDMConfig; valid: speed_fr"),
        (["--planner-option", "idm.gap=2"], "unknown option 'idm.gap' of IDMParams; valid: idm.accel_max_mps2"),
        (["--planner-option", "idm=2"], "unknown option 'idm' of PDMConfig; valid: .*idm.\\*"),
        (["--planner-option", "min_progress_m=fast"], "'min_progress_m': expected a value like 5.0, got 'fast'"),
        (["--planner-option", "integration_steps=2.5"], "'integration_steps': expected a value like 4"),
        (["--planner", "constant_velocity", "--planner-option", "a=1"], "'constant_velocity' takes no options"),
        (["--model", "lidar", "--model-config", "{model_cfg}"], "with a config mapping .* needs weights=PATH or 'rand"),
        (["--weights", "w.safetensors"], "model 'oracle' takes no option\\(s\\) \\['weights'\\]; valid: \\(none\\)"),
        (
            ["--model", "lidar", "--weights", "missing.safetensors"],
            "missing.safetensors: weights file of model 'lidar'",
        ),
    ],
)
def test_bad_options_are_refused_before_the_run_folder_exists(tiny_dataroot, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    model_cfg = tmp_path / "net.json"
    model_cfg.write_text('{"voxel_m": 0.4}')
    args = [*quick_args(tiny_dataroot, out), *(a.format(model_cfg=model_cfg) for a in extra)]
    assert main(args) == 2
    assert "error: " in capsys.readouterr().err
    with pytest.raises(ValidationError, match=message):
        plugins(config_from_args(args))
    assert not out.exists()


def test_model_options_from_yaml_list_the_valid_keys(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: occnet\nmodel_options: {weigths: auto}\n")
    with pytest.raises(ValidationError, match="model 'occnet' takes no option\\(s\\) \\['weigths'\\]; valid: config, "):
        plugins(load := config_from_args(["--config", str(cfg)]))
    assert dict(load.model_options) == {"weigths": "auto"}
    with pytest.raises(ValidationError, match="key 'model_options' expects"):
        from_mapping({"model_options": ["weights"]}, "x.yaml")


def test_options_round_trip_config_json_and_resume_compares_them(tmp_path):
    config = RunConfig(
        model="lidar", model_options={"weights": str(SHIPPED_LIDAR), "config": {"voxel_m": 0.4}},
        planner_options={"speed_fractions": [0.5, 0.0]}, out=str(tmp_path),
    )  # fmt: skip
    store = RunStore(tmp_path, config)
    assert store.open() == {}
    store.append({"scenario": "a", "metrics": {}})
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["planner_options"] == {"speed_fractions": [0.5, 0.0]}
    assert from_mapping(saved, "config.json") == config
    resumed = {"model": "lidar", "model_options": dict(config.model_options), "resume": True}
    same = RunConfig(**resumed, planner_options={"speed_fractions": [0.5, 0.0]})
    assert set(RunStore(tmp_path, same).open()) == {"a"}
    with pytest.raises(ValidationError, match="different config: .*planner_options"):
        RunStore(tmp_path, RunConfig(**resumed, planner_options={"speed_fractions": [0.4, 0.0]})).open()
    with pytest.raises(ValidationError, match="different config: .*planner_options"):
        RunStore(tmp_path, RunConfig(**resumed)).open()


def test_planner_option_reaches_the_planner_and_changes_the_drive(tiny_dataroot, tmp_path):
    slow = {"speed_fractions": [0.2, 0.0], "idm.min_gap_m": 2.0}
    planner = instance(plugins(RunConfig(planner_options=slow)).planner)
    assert planner.config.speed_fractions == (0.2, 0.0) and planner.config.idm.min_gap_m == 2.0
    assert instance(plugins(RunConfig()).planner).config.speed_fractions[0] == 1.0
    runs = {}
    for name, extra in (("default", []), ("slow", ["--planner-option", "speed_fractions=[0.2, 0.0]"])):
        assert main([*quick_args(tiny_dataroot, tmp_path / name), *extra]) == 0
        runs[name] = summary(tmp_path / name)
    assert runs["slow"]["sim/progress_ratio"] < runs["default"]["sim/progress_ratio"] - 0.2


def test_weights_flag_with_the_shipped_checkpoint_drives_like_the_default(tiny_dataroot, tmp_path):
    runs = {}
    flags = {"default": [], "path": ["--weights", str(SHIPPED_LIDAR)], "random": ["--weights", "random"]}
    for name, extra in flags.items():
        assert main([*quick_args(tiny_dataroot, tmp_path / name, "lidar"), *extra]) == 0
        runs[name] = summary(tmp_path / name)
    assert runs["path"] == runs["default"]
    assert runs["random"] != runs["default"]  # the checkpoint is what the model runs with
