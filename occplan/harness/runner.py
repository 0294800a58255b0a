"""``run(config)``: every scenario of the split through ``run_scenario``, in process or on Ray, then
the summary, the report, the plots and the W&B run.

Output directory: ``config.json``, ``results.jsonl`` (one record per scenario, appended as each
finishes), ``summary.json`` (flat METRICS.md keys + ``meta/*`` + ``config``), ``report.md`` and
``plots/`` (per-scenario BEV GIF/PNG, ``iou_per_class.png``, ``planning_vs_horizon.png``).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from occplan import PROTOCOL_VERSION, __version__
from occplan.errors import ValidationError
from occplan.harness.accumulate import RunMetrics, per_type_metrics
from occplan.harness.config import RunConfig
from occplan.harness.episode import (
    LABELS,
    data_source,
    run_scenario,
    sim_config,
)
from occplan.harness.plugins import Plugins
from occplan.harness.report import HEADLINE_KEYS, headline_table, markdown_report
from occplan.harness.resume import resumable_records
from occplan.harness.store import RunStore
from occplan.harness.wandb_logger import WandbLogger
from occplan.io import json_safe
from occplan.metrics.bootstrap import bootstrap_ci
from occplan.types import GridSpec
from occplan.viz.plots import horizon_curves, iou_bars

BOOTSTRAP_RESAMPLES = 1000

SCENARIO_TABLE_KEYS = (
    "occ/miou",
    "occ/miou_nomask",
    "occ/rayiou",
    "flow/mave",
    "plan/stp3/l2_avg",
    "plan/stp3/col_vehped_avg",
    "sim/collision_rate",
    "sim/offroad_rate",
    "sim/progress_ratio",
    "sim/score",
)


def resolve(config: RunConfig) -> RunConfig:
    """Fill in the dataroot's table version and an absolute dataroot and output directory, so that
    workers and a later ``--resume`` see the same run. A missing dataroot or a path that is not one is
    refused here, before anything is created."""
    from occplan.data.dataroot import resolve_dataroot

    if config.data is None:
        raise ValidationError(
            "RunConfig.data: None; give a dataroot (run_closed_loop.py fills in the embedded generated set)"
        )
    root, version = resolve_dataroot(config.data, config.version)
    return replace(config, data=str(root), version=version, out=str(Path(config.out).expanduser().resolve()))


def scene_list(config: RunConfig) -> list[str]:
    """``config.scenes`` (checked against the dataroot) or every scene of ``config.split``."""
    source = data_source(config.data, config.version)
    if config.scenes is None:
        scenes = source.scene_names(config.split)
        if not scenes:
            n = len(source.scene_names(None))
            raise ValidationError(
                f"{config.data}: split {config.split!r} has no scenes (the dataroot has {n}; "
                "--split all runs every scene, --scenes names some)"
            )
        return scenes
    known = source.scene_names(None)
    unknown = [s for s in config.scenes if s not in known]
    if unknown:
        raise ValidationError(f"--scenes: {unknown} not in {config.data} ({config.version}); known: {', '.join(known)}")
    return list(config.scenes)


def confidence_intervals(grid: GridSpec, states: list[dict], present: dict[str, Any], seed: int) -> dict[str, float]:
    """95 % bootstrap intervals over scenarios of the headline keys the run reports."""
    keys = [k for k in HEADLINE_KEYS if isinstance(present.get(k), float) and np.isfinite(present[k])]

    def compute(indices: np.ndarray) -> dict[str, float]:
        return RunMetrics.merged(grid, LABELS, [states[i] for i in indices]).compute()

    return bootstrap_ci(len(states), compute, keys, n_resamples=BOOTSTRAP_RESAMPLES, seed=seed)


def summarize(config: RunConfig, scenes: list[str], records: dict[str, dict]) -> tuple[dict[str, Any], RunMetrics]:
    """The run summary: the pass metrics of all scenarios merged in scene order, their 95 % bootstrap
    intervals over scenarios, the same per scenario type of a dataroot with ``scenario_types.json``
    (``type/<type>/<key>``), plus meta data. Also returns the merged pass accumulators."""
    grid = sim_config(config).grid
    states = [records[s]["state"] for s in scenes]
    merged = RunMetrics.merged(grid, LABELS, states)
    metrics = merged.compute()
    metrics |= confidence_intervals(grid, states, metrics, config.seed)
    tags = data_source(config.data, config.version).scenario_types()
    types = [tags[s].type if s in tags else None for s in scenes]
    metrics |= per_type_metrics(grid, LABELS, states, types, HEADLINE_KEYS, BOOTSTRAP_RESAMPLES, config.seed)
    metas = [records[s]["meta"] for s in scenes]
    summary = {
        **metrics,
        "meta/protocol": PROTOCOL_VERSION,
        "meta/occplan_version": __version__,
        "meta/label_set": LABELS.name,
        "meta/grid": grid.name,
        "meta/grid_spec": {
            "range_min_m": list(grid.range_min_m),
            "voxel_size_m": grid.voxel_size_m,
            "shape": list(grid.shape),
            "frame": grid.frame,
        },
        "meta/data": config.data,
        "meta/version": config.version,
        "meta/mode": config.mode,
        "meta/agents": config.agents,
        "meta/privileged_model": metas[0]["privileged_model"],
        "meta/privileged_planner": metas[0]["privileged_planner"],
        "meta/occ_gt_source": "+".join(sorted({m["occ_gt_source"] for m in metas})),
        "meta/route_source": "+".join(sorted({m["route_source"] for m in metas})),
        **_closed_cameras(metas),
        "meta/bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "meta/n_scenarios": len(scenes),
        "meta/scenarios": scenes,
        **({"meta/scenario_types": {s: t for s, t in zip(scenes, types, strict=True) if t}} if any(types) else {}),
        "config": config.to_dict(),
    }
    return json_safe(summary), merged


def _closed_cameras(metas: list[dict]) -> dict[str, str]:
    """``meta/closed_cameras`` over the scenarios that ran closed loop (records written before the key
    existed have none; nothing when no scenario has it)."""
    sources = sorted({m["closed_cameras"] for m in metas if m.get("closed_cameras")})
    return {"meta/closed_cameras": "+".join(sources)} if sources else {}


class _Progress:
    """Receives finished scenario records: store, progress bar, W&B per-step and per-scenario logs."""

    def __init__(self, store: RunStore, bar: tqdm, wandb: WandbLogger, out_dir: Path) -> None:
        self.store, self.bar, self.wandb, self.out_dir = store, bar, wandb, out_dir
        self.records: dict[str, dict] = {}
        self.wandb_step = 0

    def __call__(self, record: dict) -> None:
        self.store.append(record)
        self.records[record["scenario"]] = record
        self.bar.update(1)
        self.bar.set_postfix_str(record["scenario"])
        self._log(record)

    def _log(self, record: dict) -> None:
        if self.wandb.run is None:
            return
        for step in record["steps"]:
            self.wandb.log({f"step/{k}": v for k, v in step.items()} | {"step/scenario": record["scenario"]},
                           step=self.wandb_step)  # fmt: skip
            self.wandb_step += 1
        m = record["metrics"]
        self.wandb.log({f"scenario/{k}": m[k] for k in SCENARIO_TABLE_KEYS if k in m}, step=self.wandb_step)
        self.wandb_step += 1
        png = next((p for p in record["plots"] if p.endswith(".png")), None)
        if png and (self.out_dir / png).is_file():
            from PIL import Image

            image = np.asarray(Image.open(self.out_dir / png).convert("RGB"))
            self.wandb.log_image(f"bev/{record['scenario']}", image, caption=record["scenario"], step=self.wandb_step)
            self.wandb_step += 1


def run(config: RunConfig, plugins: Plugins) -> dict[str, Any]:
    """Evaluate ``config`` with the model and planner that ``plugins`` builds (see the module docstring
    and ``occplan.harness.plugins``); returns the summary dict (also in summary.json)."""
    plugins.check(config)
    config = resolve(config)
    scenes = scene_list(config)
    store = RunStore(config.out, config)
    done = {s: r for s, r in store.open().items() if s in scenes}
    done = resumable_records(store, done, sim_config(config).grid, LABELS)
    todo = [s for s in scenes if s not in done]
    out_dir = Path(config.out)
    wandb = WandbLogger(config.wandb, config.wandb_project, config.wandb_mode, config.to_dict(), out_dir / "wandb")
    bar = tqdm(total=len(scenes), initial=len(done), desc="scenarios", unit="scn", file=sys.stderr, mininterval=1.0)
    progress = _Progress(store, bar, wandb, out_dir)
    progress.records.update(done)
    try:
        if config.workers or config.ray_address:
            from occplan.harness.ray_pool import run_on_ray

            run_on_ray(config, plugins, todo, progress)
        else:
            for scene in todo:
                progress(run_scenario(config, plugins, scene))
    finally:
        bar.close()
    summary, merged = summarize(config, scenes, progress.records)
    store.write_json("summary.json", summary)
    ordered = [progress.records[s] for s in scenes]
    (out_dir / "report.md").write_text(markdown_report(summary, ordered))
    if config.plots:
        iou_bars(summary, out_dir / "plots" / "iou_per_class.png")
        plan = merged.accumulator("open", "plan")
        if plan is not None and plan.rows:
            horizon_curves(plan.per_step(), plan.config.interval_s,
                           out_dir / "plots" / "planning_vs_horizon.png", human=plan.per_step_human())  # fmt: skip
    _finish_wandb(wandb, summary, ordered, out_dir)
    return summary


def _finish_wandb(wandb: WandbLogger, summary: dict[str, Any], records: list[dict], out_dir: Path) -> None:
    if wandb.run is None:
        return
    keys = [k for k in SCENARIO_TABLE_KEYS if any(k in r["metrics"] for r in records)]
    rows = [[r["scenario"], sum(r["n_steps"].values()), *[r["metrics"].get(k) for k in keys]] for r in records]
    wandb.log_table("scenarios", ["scenario", "steps", *keys], rows)
    for name in ("iou_per_class", "planning_vs_horizon"):
        p = out_dir / "plots" / f"{name}.png"
        if p.is_file():
            from PIL import Image

            wandb.log_image(f"plots/{name}", np.asarray(Image.open(p).convert("RGB")), caption=name)
    wandb.summary({k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)})
    wandb.finish()


def print_summary(summary: dict[str, Any]) -> None:
    print(headline_table(summary))
