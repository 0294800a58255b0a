"""RunConfig from YAML and flags: precedence, unknown keys and bad values are errors; run-directory rules."""

from __future__ import annotations

import pytest

from occplan.errors import ValidationError
from occplan.harness import run
from occplan.harness.cli import config_from_args
from occplan.harness.config import RunConfig, load_yaml
from occplan.harness.store import RunStore
from run_closed_loop import main, plugins


def test_defaults_then_yaml_then_flags(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: oracle\nplanner: log_replay\nscenes: scene-0001\nworkers: 2\n")
    c = config_from_args(["--config", str(cfg), "--planner", "pdm", "--split", "all", "--no-plots"])
    got = (c.model, c.planner, c.scenes, c.workers, c.split, c.plots)
    assert got == ("oracle", "pdm", ("scene-0001",), 2, None, False)
    assert config_from_args([]) == RunConfig()
    assert RunConfig().model == "occnet" and RunConfig().planner == "pdm" and RunConfig().mode == "both"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modle: oracle\n", "unknown key"),
        ("workers: two\n", "'workers' expects"),
        ("plots: 1\n", "'plots' expects"),
        ("mode: sideways\n", "RunConfig.mode"),
        ("- a\n- b\n", "expected a mapping"),
        ("model: [oracle\n", "invalid YAML"),
    ],
)
def test_yaml_errors_name_the_file(tmp_path, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ValidationError, match=message) as e:
        load_yaml(cfg)
    assert str(cfg) in str(e.value) or "RunConfig" in str(e.value)


def test_cli_reports_config_errors(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("speed: 3\n")
    assert main(["--config", str(cfg)]) == 2
    assert "unknown key(s) ['speed']" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "missing")]) == 2


def test_store_refuses_overwrite_and_changed_resume(tmp_path):
    config = RunConfig(model="oracle", out=str(tmp_path))
    store = RunStore(tmp_path, config)
    assert store.open() == {}
    store.append({"scenario": "a", "metrics": {}})
    with pytest.raises(ValidationError, match="--resume"):
        RunStore(tmp_path, config).open()
    assert set(RunStore(tmp_path, RunConfig(model="oracle", resume=True)).open()) == {"a"}
    with pytest.raises(ValidationError, match="different config"):
        RunStore(tmp_path, RunConfig(model="lidar", resume=True)).open()


@pytest.mark.parametrize(("flag", "name", "known"), [("--model", "lidr", "lidar, occnet"), ("--planner", "pmd", "pdm")])
def test_unknown_plugin_is_refused_before_the_run_folder_exists(tiny_dataroot, tmp_path, capsys, flag, name, known):
    out = tmp_path / "run"
    args = ["--model", "oracle", "--planner", "constant_velocity", "--data", str(tiny_dataroot), "--out", str(out)]
    assert main([*args, flag, name]) == 2
    assert f"unknown {'perception model' if flag == '--model' else 'planner'} {name!r}" in capsys.readouterr().err
    with pytest.raises(ValidationError, match=f"known: .*{known}"):
        plugins(config_from_args([*args, flag, name]))
    assert not out.exists()


def test_empty_data_folder_is_not_a_dataroot(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--model", "oracle", "--data", str(empty), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: is not a nuScenes dataroot (no v1.0-* table folder)" in err and "--version" not in err
    assert not (tmp_path / "run").exists()


def test_the_harness_needs_a_dataroot_the_edge_fills_in(tmp_path):
    """``occplan.harness.run`` resolves no dataset itself (the core imports no ``scenarios``): without
    ``data`` it refuses before creating the run folder; ``run_closed_loop.evaluate`` fills in the mini set."""
    config = RunConfig(model="oracle", out=str(tmp_path / "run"))
    with pytest.raises(ValidationError, match="RunConfig.data: None"):
        run(config, plugins(config))
    assert not (tmp_path / "run").exists()
