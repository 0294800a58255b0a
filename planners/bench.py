"""``python -m occplan.bench planners [--n N] [--planners a,b] [--seed S]``: planning latency per decision.

Each planner runs on the same N synthetic urban decisions (``planners.synthetic.traffic_input``: road,
parked and moving cars with flow, pedestrians) on one core (OpenCV and BLAS limited to one thread).
Reports the median and 90th-percentile wall time and the median CPU time (``time.thread_time``, robust
to other load on the machine) of the planning call per decision, in ms.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def run(args: list[str]) -> dict:
    import cv2
    from threadpoolctl import threadpool_limits

    import planners
    from planners.synthetic import traffic_input

    ap = argparse.ArgumentParser(prog="python -m occplan.bench planners")
    ap.add_argument("--n", type=int, default=40, help="decisions per planner")
    ap.add_argument("--planners", default="constant_velocity,occ_sampler,pdm")
    ap.add_argument("--seed", type=int, default=0)
    opt = ap.parse_args(args)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(opt.seed)
    inputs = [traffic_input(rng) for _ in range(opt.n)]
    out: dict = {"n_decisions": opt.n, "inputs": "planners.synthetic.traffic_input", "threads": 1}
    with threadpool_limits(1):
        for name in opt.planners.split(","):
            planner = planners.create(name)
            planner.plan(inputs[0])  # warm-up (numba compilation, caches) and input validation path
            wall, cpu_ms = [], []
            for inp in inputs:  # the planner's own work, as Planner.plan times it (inputs are valid)
                w0, c0 = time.perf_counter(), time.thread_time()
                planner._plan(inp)
                wall.append((time.perf_counter() - w0) * 1e3)
                cpu_ms.append((time.thread_time() - c0) * 1e3)
            out[name] = {
                "median_ms": round(float(np.median(wall)), 3),
                "p90_ms": round(float(np.percentile(wall, 90)), 3),
                "median_cpu_ms": round(float(np.median(cpu_ms)), 3),
            }
    return out
