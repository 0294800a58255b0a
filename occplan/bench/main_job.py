"""``python -m occplan.bench main [--cache DIR] [--out DIR] [--model M] [--planner P]``: the default command, timed.

The README's main job, ``python run_closed_loop.py --model occnet``, as a new user runs it on a fresh
clone: with an empty cache (a fresh temporary ``$OCCPLAN_CACHE`` unless ``--cache`` names one) it first
generates the data the run needs (``scenarios.datasets.ensure_split("mini", "val")``, numba kernels
compiled on first use included), then runs both passes with plots. Each phase is a fresh process; the
figures are wall seconds, the CPU seconds of each phase (``RUSAGE_CHILDREN``: user + system of the phase's
process and its workers), the one-minute load average before and after, and the run's own per-decision
medians (``runtime/model_ms``, ``runtime/planner_ms``, ``runtime/sim_ms``: sensors for the model plus the
simulator step), keyframe and decision counts from its summary.

The core never imports a plugin package, so the phases are processes of the script at the root of the
source checkout (``--script`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "run_closed_loop.py"
GENERATE = "from scenarios.datasets import ensure_split; ensure_split('mini', 'val', progress=False)"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _phase(cmd: list[str], env: dict[str, str], cwd: Path, stdout: Path | None = None) -> dict[str, float]:
    """Run ``cmd`` to completion (its standard output to ``stdout`` or discarded); its wall and CPU seconds
    and the load average around it."""
    load0, cpu0, t0 = os.getloadavg()[0], _cpu_s(), time.perf_counter()
    with open(stdout or os.devnull, "w") as sink:
        subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=sink)
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(_cpu_s() - cpu0, 2),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def run(args: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="python -m occplan.bench main", description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, help="OCCPLAN_CACHE to use (default: a fresh empty one)")
    p.add_argument("--out", type=Path, help="keep the run folder here and its printed report in <out>.stdout.txt")
    p.add_argument("--model", default="occnet")
    p.add_argument("--planner", default="pdm")
    p.add_argument("--script", type=Path, default=SCRIPT, help="run_closed_loop.py")
    a = p.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="occplan-main-") as tmp:
        cache = a.cache or Path(tmp) / "cache"
        env = {**os.environ, "OCCPLAN_CACHE": str(cache)}
        env.pop("NUMBA_CACHE_DIR", None)  # numba's cache follows OCCPLAN_CACHE, as on a fresh clone
        generation = _phase([sys.executable, "-c", GENERATE], env, a.script.parent)
        out = a.out.resolve() if a.out else Path(tmp) / "run"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(a.script), "--model", a.model, "--planner", a.planner, "--out", str(out)]
        evaluation = _phase(cmd, env, a.script.parent, out.parent / f"{out.name}.stdout.txt" if a.out else None)
        summary = json.loads((out / "summary.json").read_text())
    keys = ("runtime/model_ms", "runtime/planner_ms", "runtime/sim_ms")
    return {
        "command": f"python run_closed_loop.py --model {a.model} --planner {a.planner}",
        "fresh_cache": a.cache is None,
        "total_wall_s": round(generation["wall_s"] + evaluation["wall_s"], 2),
        "generation": generation,
        "run": evaluation,
        "per_decision_median_ms": {k.split("/")[1]: round(summary[k], 1) for k in keys if k in summary},
        "n_scenarios": summary.get("meta/n_scenarios"),
        "open_loop_keyframes": summary.get("occ/n_frames"),
        "closed_loop_decisions": summary.get("closed/occ/n_frames"),
        "sim/score": summary.get("sim/score"),
        "occ/miou": summary.get("occ/miou"),
    }
