"""Benchmarks: ``python -m occplan.bench <name>`` prints figures as JSON.

Each benchmark is a module ``occplan.bench.<name>`` with ``run(args: list[str]) -> dict``.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform

BENCHMARKS = ("data", "generate", "metrics", "env", "models", "planners")


def machine_info() -> dict:
    """Date and machine description recorded with every benchmark result."""
    return {
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
