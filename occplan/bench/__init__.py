"""Benchmarks: ``python -m occplan.bench <name>`` prints figures as JSON.

Each benchmark is a module with ``run(args: list[str]) -> dict``, named in ``BENCHMARKS``. The core's
own (data layer, metrics) live here; a benchmark of a plugin package lives in that package (the env in
``envs.bench``, models in ``models.bench``, planners in ``planners.bench``, dataset generation in
``scenarios.bench``), since the core never imports a plugin package: the command line imports the
named module when it runs.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform

BENCHMARKS = {
    "data": "occplan.bench.data",
    "generate": "scenarios.bench",
    "metrics": "occplan.bench.metrics",
    "env": "envs.bench",
    "models": "models.bench",
    "planners": "planners.bench",
    "labels": "occplan.bench.labels",
    "evaluate": "occplan.bench.evaluate",
    "ray": "occplan.bench.ray_scaleout",
    "main": "occplan.bench.main_job",
}
"""Benchmark name -> module."""


def machine_info() -> dict:
    """Date and machine description recorded with every benchmark result."""
    return {
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
