"""Report tables of a protocol-2 summary: both passes' tables in mode both, none of the other pass's
keys in a single-pass report, one planning table per convention, intervals and the human row."""

from __future__ import annotations

import re

import pytest

from occplan.errors import ValidationError
from occplan.harness.report import HEADLINE_KEYS, headline_table, markdown_report

CONVS = ("stp3", "uniad")
QUANTITIES = ("l2", "col_veh", "col_vehped", "col_occ")


def _summary(mode: str = "both") -> dict:
    s: dict = {
        "meta/mode": mode,
        "meta/protocol": "2",
        "meta/occ_gt_source": "dataset",
        "meta/route_source": "map_lanes",
        "meta/n_scenarios": 4,
        "runtime/model_ms": 12.5,
        "config": {"model": "oracle", "planner": "pdm", "agents": "log", "split": "val"},
    }
    if mode in ("both", "open"):
        s |= {"occ/miou": 41.25, "occ/iou_geo": 60.5, "occ/rayiou": 38.75, "flow/mave": 0.625, "occ/score": 38.5,
              "lidarseg/miou": 52.125, "occ/iou/car": 70.5, "plan/n_samples": 120.0,
              "plan/n_samples_all": 160.0}  # fmt: skip
        for i, conv in enumerate(CONVS):
            for j, q in enumerate(QUANTITIES):
                for h, v in (("1s", 0.25), ("2s", 0.5), ("3s", 0.75), ("avg", 0.5)):
                    s[f"plan/{conv}/{q}_{h}"] = v + i + 10 * j
                    s[f"ref/human/plan/{conv}/{q}_{h}"] = 0.0 if q == "l2" else v / 10
        s |= {"occ/miou/ci95_low": 39.5, "occ/miou/ci95_high": 43.125}
        s |= {"plan/stp3/l2_avg/ci95_low": 0.375, "plan/stp3/l2_avg/ci95_high": 0.625}
    if mode in ("both", "closed"):
        s |= {"sim/score": 0.875, "sim/collision_rate": 0.25, "sim/at_fault_collision_rate": 0.0,
              "sim/offroad_rate": 0.0, "sim/progress_ratio": 0.9375, "sim/comfort_ok": 1.0,
              "sim/log_divergence_m": 1.5, "sim/n_episodes": 4.0, "closed/occ/miou_nomask": 35.5}  # fmt: skip
        s |= {"ref/human/sim/score": 0.9375, "ref/human/sim/collision_rate": 0.0, "ref/human/sim/progress_ratio": 1.0}
        s |= {"sim/score/ci95_low": 0.75, "sim/score/ci95_high": 1.0}
    return s


def _records(mode: str = "both") -> list[dict]:
    metrics = {k: v for k, v in _summary(mode).items() if "/" in k and not k.startswith(("meta/", "ref/"))}
    return [{"scenario": f"scene-000{i}", "metrics": metrics} for i in range(2)]


def _tables(text: str) -> list[str]:
    """Each markdown table (consecutive lines starting with '|') with the non-table line above it."""
    out, title, cur = [], "", []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cur.append(line)
        else:
            if cur:
                out.append(title + "\n" + "\n".join(cur))
                cur = []
            if line.strip():
                title = line
    return out


def test_mode_both_prints_open_and_closed_tables():
    text = headline_table(_summary())
    assert "Open loop" in text and "Closed loop" in text
    tables = _tables(text)
    perception = next(t for t in tables if "| perception" in t)
    assert re.search(r"\| occ/miou\s+\|\s+41\.250 \| \[39\.500, 43\.125\] \|", perception)
    for k in ("occ/rayiou", "flow/mave", "occ/score", "lidarseg/miou"):
        assert k in perception
    closed = next(t for t in tables if "| closed loop" in t)
    assert "| planner | 95% CI" in closed and "| human |" in closed
    assert re.search(r"\| sim/score\s+\|\s+0\.875 \| \[0\.750, 1\] \|\s+0\.938 \|", closed)
    assert re.search(r"\| closed/occ/miou_nomask\s+\|\s+35\.500 \|", closed)  # stands in for closed/occ/miou
    assert "sim/log_divergence_m" in closed


def test_one_planning_table_per_convention_with_human_rows():
    tables = _tables(headline_table(_summary()))
    plan = [t for t in tables if "| plan/" in t]
    assert len(plan) == 2
    for conv, t in zip(CONVS, plan, strict=True):
        other = next(c for c in CONVS if c != conv)
        assert f"plan/{conv}" in t and other not in t
        assert re.search(r"\|\s+1s \|\s+2s \|\s+3s \|\s+avg \| avg 95% CI", t)
        for q in QUANTITIES:
            assert len(re.findall(rf"\| {q} \(", t)) == 2  # planner and human
    stp3 = plan[0]
    assert re.search(
        r"\| l2 \(m\)\s+\| planner \|\s+0\.250 \|\s+0\.500 \|\s+0\.750 \|\s+0\.500 \| \[0\.375, 0\.625\] \|", stp3
    )
    assert re.search(r"\| l2 \(m\)\s+\| human\s+\|\s+0 \|\s+0 \|\s+0 \|\s+0 \|", stp3)
    assert re.search(r"\| col_veh \(%\)\s+\| human\s+\|\s+0\.025 \|", stp3)
    uniad = plan[1]
    assert re.search(r"\| l2 \(m\)\s+\| planner \|\s+1\.250 \|", uniad)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_single_pass_report_has_none_of_the_other_pass(mode):
    summary = _summary(mode)
    # a stray key of the other pass is not printed either
    summary |= {"sim/score": 0.5} if mode == "open" else {"plan/stp3/l2_avg": 9.0, "occ/miou": 1.0}
    for text in (headline_table(summary), markdown_report(summary, _records(mode))):
        if mode == "open":
            assert "Open loop" in text and "Closed loop" not in text
            assert "sim/" not in text and "closed/" not in text
        else:
            assert "Closed loop" in text and "Open loop" not in text
            assert "plan/" not in text and "occ/miou " not in text and "| occ/" not in text


def test_markdown_report_keeps_conventions_apart():
    text = markdown_report(_summary(), _records())
    assert "occupancy GT `dataset`" in text and "route `map_lanes`" in text
    for t in _tables(text):
        assert not ("stp3" in t and "uniad" in t), t
    assert "## plan/stp3" in text and "## plan/uniad" in text and "## ref/human/plan/stp3" in text
    assert "## ref/human/sim" in text and "## Scenarios, open loop" in text and "## Scenarios, closed loop" in text
    assert "occ/miou/ci95_low" in text


def test_headline_keys_and_bad_mode():
    assert len(set(HEADLINE_KEYS)) == len(HEADLINE_KEYS)
    for k in ("occ/miou", "occ/rayiou", "flow/mave", "lidarseg/miou", "sim/score", "closed/occ/miou"):
        assert k in HEADLINE_KEYS
    for conv in CONVS:
        assert f"plan/{conv}/l2_avg" in HEADLINE_KEYS and f"plan/{conv}/col_vehped_avg" in HEADLINE_KEYS
    assert not any(k.startswith("ref/") for k in HEADLINE_KEYS)
    with pytest.raises(ValidationError, match="meta/mode"):
        headline_table({"meta/mode": "replay"})


def test_passes_inferred_from_keys_without_meta_mode():
    closed_only = {k: v for k, v in _summary("closed").items() if k != "meta/mode"}
    text = headline_table(closed_only)
    assert "Closed loop" in text and "Open loop" not in text
