"""Command line of ``run_closed_loop.py``: flags over a ``--config`` YAML over the RunConfig defaults.

The command line names plugins; ``main`` takes the function that evaluates a RunConfig (the caller
resolves the names through the registries: ``run_closed_loop.evaluate``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from occplan.errors import OccPlanError, ValidationError
from occplan.harness.config import AGENT_MODES, MODES, WANDB_MODES, RunConfig, from_mapping, load_yaml

ALL_SPLITS = "all"


def parser() -> argparse.ArgumentParser:
    d = RunConfig()
    ap = argparse.ArgumentParser(
        prog="run_closed_loop.py",
        description="Closed-/open-loop evaluation of a perception model + planner over a nuScenes-format dataroot.",
        argument_default=argparse.SUPPRESS,  # only the flags given override --config and the defaults
    )
    ap.add_argument("--config", help="YAML file of RunConfig keys (an unknown key is an error)")
    ap.add_argument("--model", help=f"perception model (models.MODELS; default {d.model})")
    ap.add_argument("--planner", help=f"planner (planners.PLANNERS; default {d.planner})")
    ap.add_argument("--data", help="nuScenes-format dataroot (default: the embedded generated mini set)")
    ap.add_argument("--version", help="table version, e.g. v1.0-mini (default: the dataroot's only v1.0-* folder)")
    ap.add_argument("--split", help=f"scene split from splits.json / the devkit, or '{ALL_SPLITS}' (default {d.split})")
    ap.add_argument("--scenes", nargs="+", help="explicit scene names (instead of --split)")
    ap.add_argument(
        "--mode", choices=MODES,
        help=f"both: an open-loop pass (ego on the log) and a closed-loop pass; open / closed: one of them ({d.mode})",
    )  # fmt: skip
    ap.add_argument("--agents", choices=AGENT_MODES, help=f"other agents: log replay or reactive IDM ({d.agents})")
    ap.add_argument("--out", help=f"output directory (default {d.out})")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished scenarios")
    ap.add_argument("--workers", type=int, help="N >= 1: spread scenarios over N local Ray workers (0 = in-process)")
    ap.add_argument(
        "--ray-address", dest="ray_address", help="join an existing Ray cluster (e.g. auto, ray://host:10001)"
    )
    ap.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline without an API key)")
    ap.add_argument("--wandb-project", dest="wandb_project", help=f"W&B project (default {d.wandb_project})")
    ap.add_argument(
        "--wandb-mode",
        dest="wandb_mode",
        choices=WANDB_MODES,
        help="W&B mode (default: online with an API key when the W&B server answers within 2 s, else offline)",
    )
    ap.add_argument("--seed", type=int, help=f"episode seed base (default {d.seed})")
    ap.add_argument("--max-decisions", dest="max_decisions", type=int, help="stop each scenario after N decisions")
    ap.add_argument("--no-plots", dest="plots", action="store_false", help="skip BEV GIFs and plots")
    ap.add_argument("--weights", help="model checkpoint (.safetensors; 'auto' = the shipped one, 'random' = untrained)")
    ap.add_argument(
        "--model-config", dest="model_config", metavar="NAME|FILE",
        help="model config: a preset name (tiny, base) or a YAML/JSON file of the model's config keys",
    )  # fmt: skip
    ap.add_argument(
        "--planner-option", dest="planner_option", action="append", metavar="KEY=VALUE",
        help="a field of the planner's config (a.b for a nested one); VALUE is parsed as YAML; repeatable",
    )  # fmt: skip
    return ap


def option_pair(text: str) -> tuple[str, Any]:
    """``key=value`` -> (key, value parsed as YAML: 8 -> int, 0.5 -> float, [1, 0] -> list, true -> bool)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValidationError(f"--planner-option: expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise ValidationError(f"--planner-option {text!r}: value is not valid YAML ({e})") from None


def config_from_args(argv: Sequence[str] | None = None) -> RunConfig:
    """RunConfig from the command line: defaults, then ``--config`` YAML, then the given flags."""
    args: dict[str, Any] = vars(parser().parse_args(argv))
    path = args.pop("config", None)
    base = load_yaml(path) if path is not None else RunConfig()
    if args.get("split") == ALL_SPLITS:
        args["split"] = None
    model = {k: args.pop(flag) for flag, k in (("weights", "weights"), ("model_config", "config")) if flag in args}
    if model:
        args["model_options"] = {**base.model_options, **model}
    if "planner_option" in args:
        args["planner_options"] = {**base.planner_options, **dict(map(option_pair, args.pop("planner_option")))}
    return from_mapping(args, "command line", base)


def main(argv: Sequence[str] | None, evaluate: Callable[[RunConfig], dict[str, Any]]) -> int:
    """Parse ``argv``, ``evaluate`` the RunConfig and print the headline table; 2 on a refused input."""
    from occplan.harness.runner import print_summary

    try:
        config = config_from_args(argv)
        summary = evaluate(config)
    except OccPlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_summary(summary)
    print(f"\nresults in {summary['config']['out']} (summary.json, report.md, results.jsonl, plots/)")
    return 0
