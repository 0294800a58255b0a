"""Command line of ``run_closed_loop.py``: flags over a ``--config`` YAML over the RunConfig defaults."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from occplan.errors import OccPlanError
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
    return ap


def config_from_args(argv: Sequence[str] | None = None) -> RunConfig:
    """RunConfig from the command line: defaults, then ``--config`` YAML, then the given flags."""
    args: dict[str, Any] = vars(parser().parse_args(argv))
    path = args.pop("config", None)
    base = load_yaml(path) if path is not None else RunConfig()
    if args.get("split") == ALL_SPLITS:
        args["split"] = None
    return from_mapping(args, "command line", base)


def main(argv: Sequence[str] | None = None) -> int:
    from occplan.harness.runner import print_summary, run

    try:
        config = config_from_args(argv)
        summary = run(config)
    except OccPlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_summary(summary)
    print(f"\nresults in {summary['config']['out']} (summary.json, report.md, results.jsonl, plots/)")
    return 0
