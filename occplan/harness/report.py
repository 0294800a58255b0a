"""Console tables and report.md of a run's summary (``occplan.PROTOCOL_VERSION``).

The summary is flat: open-loop pass keys (``occ/*``, ``flow/*``, ``lidarseg/*``, ``plan/<conv>/*``),
closed-loop pass keys (``sim/*``, ``closed/*``), the human reference ``ref/human/<key>``, intervals
``<key>/ci95_low`` / ``<key>/ci95_high``, ``meta/*`` and ``runtime/*``. A pass's tables appear only
when it ran (``meta/mode``: ``both``, ``open`` or ``closed``), and only its keys. Planning prints one
table per convention: ST-P3 (mean over the steps up to the horizon) and UniAD (value at the horizon
step) numbers never share a table. A run over a dataroot with scenario types adds
``type/<type>/<key>`` (and its interval) for every headline key and ``type/<type>/n_scenarios``;
report.md prints them as one table, headline keys by type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from occplan.errors import ValidationError
from occplan.metrics.bootstrap import ci_keys
from occplan.metrics.planning import CONVENTIONS, QUANTITIES

PERCEPTION_KEYS = ("occ/miou", "occ/iou_geo", "occ/rayiou", "flow/mave", "occ/score", "lidarseg/miou")
CLOSED_LOOP_KEYS = (
    "sim/score",
    "sim/collision_rate",
    "sim/at_fault_collision_rate",
    "sim/offroad_rate",
    "sim/progress_ratio",
    "sim/route_completion",
    "sim/ttc_ok",
    "sim/comfort_ok",
    "closed/occ/miou",
    "closed/occ/rayiou",
    "closed/flow/mave",
    "closed/lidarseg/miou",
)
# Keys that carry a 95 % bootstrap interval over scenarios. ``occ/miou_nomask`` stands in for
# ``occ/miou`` when the GT has no visibility masks (the same in closed loop).
HEADLINE_KEYS = (
    *PERCEPTION_KEYS,
    "occ/miou_nomask",
    *(f"plan/{conv}/{q}_avg" for conv in CONVENTIONS for q in QUANTITIES),
    *CLOSED_LOOP_KEYS,
    "closed/occ/miou_nomask",
)
TYPE_PREFIX = "type/"
DIAGNOSTIC_KEYS = ("sim/log_divergence_m", "sim/n_episodes")
CONVENTION_TITLES = {
    "stp3": "ST-P3 / VAD convention: mean over the steps up to the horizon",
    "uniad": "UniAD convention: value at the horizon step",
}
QUANTITY_UNITS = {"l2": "m", "col_veh": "%", "col_vehped": "%", "col_occ": "%"}
OPEN_PREFIXES = ("occ/", "flow/", "lidarseg/", "plan/", "ref/human/plan/")
CLOSED_PREFIXES = ("sim/", "closed/", "ref/human/sim/", "ref/human/closed/")
META_LINE_KEYS = (
    "meta/protocol",
    "meta/mode",
    "meta/occ_gt_source",
    "meta/route_source",
    "meta/closed_cameras",
    "meta/n_scenarios",
)
SCENARIO_KEYS = (
    "occ/miou",
    "occ/miou_nomask",
    "occ/rayiou",
    "plan/stp3/l2_avg",
    "plan/stp3/col_vehped_avg",
    "sim/score",
    "sim/collision_rate",
    "sim/offroad_rate",
    "sim/progress_ratio",
    "closed/occ/miou_nomask",
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


def grid(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """Markdown table of strings; ``align`` one letter per column, ``l`` or ``r`` (default: the first
    column left, the others right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        "-" * (w + 2) if a == "l" else "-" * (w + 1) + ":" for w, a in zip(widths, align, strict=True)
    )
    return "\n".join([line(headers), rule + "|", *(line(r) for r in rows)])


def table(rows: list[tuple[str, Any]], headers: tuple[str, str] = ("metric", "value")) -> str:
    """Two-column key / value table."""
    return grid(headers, [(k, fmt(v)) for k, v in rows])


def passes(summary: dict[str, Any]) -> tuple[bool, bool]:
    """(open-loop pass ran, closed-loop pass ran) from ``meta/mode``, else from the keys present."""
    mode = summary.get("meta/mode")
    if mode is None:
        return has_keys(summary, OPEN_PREFIXES), has_keys(summary, CLOSED_PREFIXES)
    if mode not in ("both", "open", "closed"):
        raise ValidationError(f"summary meta/mode: {mode!r}, expected 'both', 'open' or 'closed'")
    return mode in ("both", "open"), mode in ("both", "closed")


def has_keys(summary: dict[str, Any], prefixes: tuple[str, ...]) -> bool:
    return any(k.startswith(prefixes) for k in summary)


def ci_cell(summary: dict[str, Any], key: str) -> str:
    """``[low, high]`` of the key's 95 % interval, empty without one."""
    low, high = (summary.get(k) for k in ci_keys(key))
    return "" if low is None and high is None else f"[{fmt(low)}, {fmt(high)}]"


def _stand_in(summary: dict[str, Any], key: str) -> str:
    """``<x>/miou_nomask`` for ``<x>/miou`` when the GT had no masks."""
    if key.endswith("occ/miou") and key not in summary:
        return key + "_nomask"
    return key


def perception_table(summary: dict[str, Any]) -> str:
    keys = [k for k in (_stand_in(summary, k) for k in PERCEPTION_KEYS) if k in summary]
    return grid(("perception", "value", "95% CI"), [(k, fmt(summary[k]), ci_cell(summary, k)) for k in keys], "lrl")


def planning_table(summary: dict[str, Any], conv: str) -> str:
    """One convention: rows planner and human per quantity, columns 1s / 2s / 3s / avg / CI of avg."""
    rows = []
    for q in QUANTITIES:
        horizons = [k.rsplit("_", 1)[1] for k in summary if k.startswith(f"plan/{conv}/{q}_") and k.endswith("s")]
        if not horizons:
            continue
        hs = sorted(set(horizons), key=lambda h: float(h[:-1]))
        name = f"{q} ({QUANTITY_UNITS[q]})"
        for who, prefix in (("planner", "plan/"), ("human", "ref/human/plan/")):
            base = f"{prefix}{conv}/{q}"
            if f"{base}_avg" not in summary:
                continue
            ci = ci_cell(summary, f"{base}_avg") if who == "planner" else ""
            rows.append((name, who, *(fmt(summary.get(f"{base}_{h}")) for h in hs), fmt(summary[f"{base}_avg"]), ci))
    if not rows:
        return ""
    return grid((f"plan/{conv}", "row", *hs, "avg", "avg 95% CI"), rows, "ll" + "r" * (len(hs) + 1) + "l")


def closed_loop_table(summary: dict[str, Any]) -> str:
    keys = [_stand_in(summary, k) for k in CLOSED_LOOP_KEYS]
    rows = [
        (k, fmt(summary[k]), ci_cell(summary, k), fmt(summary[f"ref/human/{k}"]) if f"ref/human/{k}" in summary else "")
        for k in (*keys, *DIAGNOSTIC_KEYS)
        if k in summary
    ]
    return grid(("closed loop", "planner", "95% CI", "human"), rows, "lrlr")


def headline_table(summary: dict[str, Any]) -> str:
    """The console summary: the open-loop tables (perception; planning per convention with the human
    row) and the closed-loop table (planner, interval, human), each when its pass ran; runtimes."""
    run_open, run_closed = passes(summary)
    head = [f"{k.removeprefix('meta/')} {summary[k]}" for k in META_LINE_KEYS if summary.get(k) is not None]
    parts = [" · ".join(head)] if head else []
    parts += run_notes(summary)
    if run_open:
        n = summary.get("plan/n_samples")
        parts += ["Open loop (ego on the log)", perception_table(summary)]
        for conv in CONVENTIONS:
            t = planning_table(summary, conv)
            if t:
                parts += [f"Planning, {CONVENTION_TITLES[conv]} ({fmt(n)} samples)", t]
    if run_closed:
        parts += ["Closed loop (ego driven by the planner)", closed_loop_table(summary)]
    runtime = [(k, summary[k]) for k in sorted(summary) if k.startswith("runtime/")]
    if runtime:
        parts.append(table(runtime, ("runtime", "median ms")))
    return "\n\n".join(parts)


def scenario_types(summary: dict[str, Any]) -> list[str]:
    """The scenario types of a summary (those with ``type/<type>/n_scenarios``), sorted."""
    return sorted(k.split("/")[1] for k in summary if k.startswith(TYPE_PREFIX) and k.endswith("/n_scenarios"))


def scenario_type_table(summary: dict[str, Any]) -> str:
    """Headline keys (rows, those of the passes that ran) by scenario type (columns): ``value [low,
    high]``; the first row is the number of scenarios of each type. Empty without types."""
    types = scenario_types(summary)
    if not types:
        return ""
    run_open, run_closed = passes(summary)
    rows = [("n_scenarios", *(fmt(summary[f"{TYPE_PREFIX}{t}/n_scenarios"]) for t in types))]
    for key in HEADLINE_KEYS:
        if (key.startswith(OPEN_PREFIXES) and not run_open) or (key.startswith(CLOSED_PREFIXES) and not run_closed):
            continue
        cells = []
        for t in types:
            k = f"{TYPE_PREFIX}{t}/{key}"
            cells.append(f"{fmt(summary[k])} {ci_cell(summary, k)}".strip() if k in summary else "")
        if any(cells):
            rows.append((key, *cells))
    return grid(("metric [95% CI]", *types), rows)


def _section(key: str) -> str:
    """Report section of a key: its namespace, with ``plan/<conv>`` and ``closed/<ns>`` apart, and
    ``ref/human/`` kept in front (``ref/human/plan/stp3``, ``ref/human/sim``)."""
    parts = key.split("/")
    head, rest = (parts[:2], parts[2:]) if parts[0] == "ref" else ([], parts)
    n = 2 if rest[0] in ("plan", "closed") and len(rest) > 2 else 1
    return "/".join(head + rest[:n])


def _sections(summary: dict[str, Any], run_open: bool, run_closed: bool) -> dict[str, list[str]]:
    """Section title -> the scalar keys of the passes that ran (``meta/*`` and ``config`` left out)."""
    groups: dict[str, list[str]] = {}
    for k in sorted(summary):
        if isinstance(summary[k], dict | list) or k == "config" or k.startswith(("meta/", TYPE_PREFIX)):
            continue
        if (k.startswith(OPEN_PREFIXES) and not run_open) or (k.startswith(CLOSED_PREFIXES) and not run_closed):
            continue
        groups.setdefault(_section(k), []).append(k)
    return groups


def markdown_report(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """report.md: run header, the headline tables, every scalar key by namespace (conventions apart)
    and one row per scenario for each pass that ran."""
    cfg = summary.get("config", {})
    run_open, run_closed = passes(summary)
    parts = [
        "# OccPlan run report",
        "",
        f"model `{cfg.get('model')}` · planner `{cfg.get('planner')}` · mode `{summary.get('meta/mode')}` · "
        f"agents `{cfg.get('agents')}` · data `{summary.get('meta/data')}` · split `{cfg.get('split')}`",
        f"protocol `{summary.get('meta/protocol')}` · labels `{summary.get('meta/label_set')}` · "
        f"grid `{summary.get('meta/grid')}` · scenarios {summary.get('meta/n_scenarios')} · "
        f"occupancy GT `{summary.get('meta/occ_gt_source')}` · route `{summary.get('meta/route_source')}`",
        *(["", *notes] if (notes := run_notes(summary)) else []),
        "",
        "## Headline",
        "",
        headline_table(summary),
    ]
    by_type = scenario_type_table(summary)
    if by_type:
        parts += ["", "## Scenario types", "", by_type]
    for title, keys in _sections(summary, run_open, run_closed).items():
        parts += ["", f"## {title}", "", table([(k, summary[k]) for k in keys])]
    for ran, name, prefixes in ((run_open, "open loop", OPEN_PREFIXES), (run_closed, "closed loop", CLOSED_PREFIXES)):
        keys = [k for k in SCENARIO_KEYS if k.startswith(prefixes) and any(k in r["metrics"] for r in records)]
        if ran and keys:
            rows = [(r["scenario"], *(fmt(r["metrics"].get(k)) for k in keys)) for r in records]
            parts += ["", f"## Scenarios, {name}", "", grid(("scenario", *keys), rows)]
    return "\n".join(parts) + "\n"


def run_notes(summary: dict[str, Any]) -> list[str]:
    """Lines flagging results that read ground truth (oracle model, log-replay planner) or whose
    closed-loop cameras were not rendered at the simulated pose."""
    notes = []
    if summary.get("meta/privileged_model"):
        notes.append("**privileged model**: the perception model reads ground-truth occupancy (an upper bound)")
    if summary.get("meta/privileged_planner"):
        notes.append("**privileged planner**: the planner reads the logged future")
    if "logged" in str(summary.get("meta/closed_cameras", "")).split("+"):
        notes.append(
            "**closed-loop cameras logged**: this world cannot render cameras, so in closed loop the model reads "
            "the images taken at the logged pose; once the ego leaves the log (`sim/log_divergence_m`) they no "
            "longer show its surroundings, and `closed/*` perception and the plans built on it carry that mismatch"
        )
    return notes
