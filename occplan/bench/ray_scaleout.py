"""``python -m occplan.bench ray --data ROOT [--split S] [--model M] [--planner P] [--max-decisions N]``.

Scale-out of the closed-loop harness over local Ray workers: the same run (``run_closed_loop.py``, no
plots) once with ``--workers 1`` and once with ``--workers 2``, each a fresh process, measured side
by side:

* wall seconds of each run end to end (Python start-up, imports, Ray start, the scenarios, the
  summary), the seconds of its scenario phase (first to last sample that saw a worker in a scenario
  task, to ``SAMPLE_S``), and the speed-ups of 2 workers over 1;
* peak resident memory (RSS) of the driver and of each Ray worker process that ran a scenario, and the
  peak of the whole process tree (driver, Ray's own processes, workers; summed per sample), sampled
  every ``SAMPLE_S`` seconds with psutil (the one Ray bundles);
* the one-minute load average before and after each run (the machine may be shared);
* ``results_identical``: the two summaries agree on every key but the config and ``runtime/*`` timings.

The core never imports a plugin package, so the runs are ``run_closed_loop.py`` processes (the script
at the root of the source checkout, ``--script`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from occplan.errors import ValidationError

SCRIPT = Path(__file__).resolve().parents[2] / "run_closed_loop.py"
SAMPLE_S = 0.2
TASK_TITLE = "ray::run_scenario"
"""Ray's process title of a worker while it runs a scenario task."""
MB = 2**20


def _psutil() -> Any:
    """psutil, which Ray bundles (``ray/thirdparty_files``, put on ``sys.path`` by ``import ray``)."""
    try:
        import psutil
    except ImportError:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValidationError("python -m occplan.bench ray needs Ray: pip install 'ray[default]'") from None
        import psutil
    return psutil


def _sample(psutil: Any, root: Any, peaks: dict[str, Any]) -> bool:
    """One RSS sample of ``root`` and its descendants into ``peaks`` (driver, per scenario worker, tree);
    True when a worker was running a scenario."""
    total, running = 0, False
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:  # the run has just ended
        return False
    for p in procs:
        try:
            rss, title = p.memory_info().rss, p.cmdline()
        except psutil.Error:
            continue
        total += rss
        if p.pid == root.pid:
            peaks["driver"] = max(peaks["driver"], rss)
            continue
        in_task = bool(title) and title[0].startswith(TASK_TITLE)
        running |= in_task
        if in_task or p.pid in peaks["workers"]:
            peaks["workers"][p.pid] = max(peaks["workers"].get(p.pid, 0), rss)
    peaks["tree"] = max(peaks["tree"], total)
    return running


def _measured_run(command: list[str]) -> dict:
    """Wall seconds, the seconds from the first to the last sample that saw a scenario running, sampled
    peak RSS (MB) and the load before and after of one run."""
    psutil = _psutil()
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    load = os.getloadavg()[0]
    peaks: dict[str, Any] = {"driver": 0, "workers": {}, "tree": 0}
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    in_tasks: list[float] = []
    while proc.poll() is None:
        if _sample(psutil, root, peaks):
            in_tasks.append(time.perf_counter())
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}:\n{stderr[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "scenario_phase_s": round(in_tasks[-1] - in_tasks[0], 1) if in_tasks else None,
        "driver_peak_rss_mb": round(peaks["driver"] / MB),
        "worker_peak_rss_mb": sorted(round(v / MB) for v in peaks["workers"].values()),
        "tree_peak_rss_mb": round(peaks["tree"] / MB),
        "load_avg_1min_before": round(load, 2),
        "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _comparable(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k != "config" and not k.startswith("runtime/")}


def run(args: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m occplan.bench ray")
    parser.add_argument("--data", required=True, help="nuScenes-format dataroot (e.g. ~/.cache/occplan/tiny)")
    parser.add_argument("--split", default="all", help="scene split, or 'all' (default)")
    parser.add_argument("--model", default="occnet")
    parser.add_argument("--planner", default="pdm")
    parser.add_argument("--max-decisions", type=int, default=None, help="stop each scenario after N decisions")
    parser.add_argument("--script", type=Path, default=SCRIPT, help=f"run_closed_loop.py (default {SCRIPT})")
    ns = parser.parse_args(args)
    if not ns.script.is_file():
        raise ValidationError(f"--script: {ns.script} is not a file; give the path of run_closed_loop.py")
    _psutil()  # Ray (with its psutil) is needed before anything runs

    base = [sys.executable, str(ns.script), "--model", ns.model, "--planner", ns.planner,
            "--data", str(Path(ns.data).expanduser()), "--split", ns.split, "--no-plots"]  # fmt: skip
    if ns.max_decisions is not None:
        base += ["--max-decisions", str(ns.max_decisions)]
    runs, summaries = {}, {}
    with tempfile.TemporaryDirectory(prefix="occplan-bench-ray-") as tmp:
        for n in (1, 2):
            out = Path(tmp) / f"workers{n}"
            runs[f"workers_{n}"] = _measured_run([*base, "--workers", str(n), "--out", str(out)])
            summaries[n] = _comparable(out)
    first = summaries[1]
    return {
        "data": str(Path(ns.data).expanduser()),
        "split": ns.split,
        "n_scenarios": first["meta/n_scenarios"],
        "model": ns.model,
        "planner": ns.planner,
        "max_decisions": ns.max_decisions,
        **runs,
        "speed_up": round(runs["workers_1"]["wall_s"] / runs["workers_2"]["wall_s"], 2),
        "speed_up_scenario_phase": _ratio(runs["workers_1"]["scenario_phase_s"], runs["workers_2"]["scenario_phase_s"]),
        "results_identical": all(s == first for s in summaries.values()),
    }
