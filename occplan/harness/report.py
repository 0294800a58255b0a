"""Markdown report and console table of a run's summary."""

from __future__ import annotations

import math
from typing import Any

HEADLINE_KEYS = (
    "occ/miou",
    "occ/iou_geo",
    "occ/rayiou",
    "lidarseg/miou",
    "flow/mave",
    "occ/score",
    "plan/l2_at_1s",
    "plan/l2_at_2s",
    "plan/l2_at_3s",
    "plan/l2_avg",
    "plan/col_vehped_avg_to_3s",
    "plan/col_veh_at_3s",
    "plan/col_occ_at_3s",
    "plan/n_samples",
    "sim/collision_rate",
    "sim/at_fault_collision_rate",
    "sim/offroad_rate",
    "sim/progress_ratio",
    "sim/route_completion",
    "sim/ttc_ok",
    "sim/comfort_ok",
    "sim/score",
    "sim/log_divergence_m",
    "sim/n_episodes",
    "runtime/model_ms",
    "runtime/planner_ms",
    "runtime/sim_ms",
)


SCENARIO_KEYS = (
    "occ/miou",
    "occ/rayiou",
    "plan/l2_avg",
    "sim/collision_rate",
    "sim/offroad_rate",
    "sim/progress_ratio",
    "sim/score",
)


def fmt(v: Any) -> str:
    """A metric value for a table: None / NaN as "nan" (JSON stores NaN as null), whole floats as
    integers (counts), else 3 decimals."""
    if v is None:
        return "nan"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.0f}" if v.is_integer() or abs(v) >= 1000 else f"{v:.3f}"
    return str(v)


def table(rows: list[tuple[str, Any]], headers: tuple[str, str] = ("metric", "value")) -> str:
    cells = [(k, fmt(v)) for k, v in rows]
    w = max([len(headers[0])] + [len(k) for k, _ in cells])
    wv = max([len(headers[1])] + [len(v) for _, v in cells])
    lines = [f"| {headers[0]:<{w}} | {headers[1]:>{wv}} |", f"|{'-' * (w + 2)}|{'-' * (wv + 1)}:|"]
    lines += [f"| {k:<{w}} | {v:>{wv}} |" for k, v in cells]
    return "\n".join(lines)


def headline_table(summary: dict[str, Any]) -> str:
    """The headline metrics; ``occ/miou_nomask`` stands in for ``occ/miou`` when the GT has no masks."""
    keys = list(HEADLINE_KEYS)
    if "occ/miou" not in summary:
        keys[keys.index("occ/miou")] = "occ/miou_nomask"
    return table([(k, summary[k]) for k in keys if k in summary])


def markdown_report(summary: dict[str, Any], scenarios: list[dict[str, Any]]) -> str:
    """report.md: headline table, all metric keys by namespace, and one row per scenario."""
    cfg = summary.get("config", {})
    parts = [
        "# OccPlan run report",
        "",
        f"model `{cfg.get('model')}` · planner `{cfg.get('planner')}` · mode `{cfg.get('mode')}` · "
        f"agents `{cfg.get('agents')}` · data `{summary.get('meta/data')}` · split `{cfg.get('split')}`",
        f"protocol `{summary.get('meta/protocol')}` · labels `{summary.get('meta/label_set')}` · "
        f"grid `{summary.get('meta/grid')}` · scenarios {summary.get('meta/n_scenarios')}",
        *_privileged_notes(summary),
        "",
        "## Headline",
        "",
        headline_table(summary),
    ]
    for ns in ("occ", "lidarseg", "flow", "plan", "sim", "runtime"):
        rows = [(k, v) for k, v in sorted(summary.items()) if k.startswith(ns + "/") and not isinstance(v, dict)]
        if rows:
            parts += ["", f"## {ns}", "", table(rows)]
    if scenarios:
        keys = [k for k in SCENARIO_KEYS if any(k in s["metrics"] for s in scenarios)]
        parts += ["", "## Scenarios", "", "| scenario | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for s in scenarios:
            cells = " | ".join(fmt(s["metrics"].get(k, float("nan"))) for k in keys)
            parts.append(f"| {s['scenario']} | {cells} |")
    return "\n".join(parts) + "\n"


def _privileged_notes(summary: dict[str, Any]) -> list[str]:
    """Lines flagging results that read ground truth (oracle model, log-replay planner)."""
    notes = []
    if summary.get("meta/privileged_model"):
        notes.append("**privileged model**: the perception model reads ground-truth occupancy (an upper bound)")
    if summary.get("meta/privileged_planner"):
        notes.append("**privileged planner**: the planner reads the logged future")
    return ["", *notes] if notes else []
