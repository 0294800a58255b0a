"""Markdown report and console table of a run's summary."""

from __future__ import annotations

import math
from typing import Any

HEADLINE_KEYS = (
    "occ/miou",
    "occ/rayiou",
    "lidarseg/miou",
    "flow/mave",
    "plan/l2_avg",
    "plan/l2_at_3s",
    "plan/col_vehped_avg_to_3s",
    "plan/col_occ_at_3s",
    "sim/collision_rate",
    "sim/offroad_rate",
    "sim/progress_ratio",
    "sim/score",
)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def table(rows: list[tuple[str, Any]], headers: tuple[str, str] = ("metric", "value")) -> str:
    w = max([len(headers[0])] + [len(k) for k, _ in rows])
    lines = [f"| {headers[0]:<{w}} | {headers[1]} |", f"|{'-' * (w + 2)}|-------|"]
    lines += [f"| {k:<{w}} | {fmt(v)} |" for k, v in rows]
    return "\n".join(lines)


def headline_table(summary: dict[str, Any]) -> str:
    return table([(k, summary[k]) for k in HEADLINE_KEYS if k in summary])


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
        keys = [k for k in ("sim/collision", "sim/offroad", "sim/progress_ratio", "sim/score", "plan/l2_avg")
                if any(k in s["metrics"] for s in scenarios)]  # fmt: skip
        parts += ["", "## Scenarios", "", "| scenario | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for s in scenarios:
            cells = " | ".join(fmt(s["metrics"].get(k, float("nan"))) for k in keys)
            parts.append(f"| {s['scenario']} | {cells} |")
    return "\n".join(parts) + "\n"
