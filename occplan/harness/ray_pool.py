"""Scale-out over Ray: one task per scenario, results handed back as each finishes.

``workers`` N >= 1 starts a local Ray runtime with N CPUs (one scenario per CPU); ``ray_address``
joins an existing cluster instead (then ``workers``, when set, caps the scenarios in flight). Ray is
an optional extra: ``pip install "ray[default]"`` (or ``pip install -e ".[ray]"``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from occplan.errors import ValidationError
from occplan.harness.config import RunConfig
from occplan.harness.episode import run_scenario
from occplan.harness.plugins import Plugins


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def run_on_ray(config: RunConfig, plugins: Plugins, scenes: list[str], on_record: Callable[[dict], None]) -> None:
    """Run ``run_scenario(config, plugins, s)`` for every scene on Ray; ``on_record`` gets each record as
    it finishes (in completion order). ``config.data`` and ``config.out`` must be absolute paths that the
    workers can reach; ``plugins`` travels pickled (its factories name the plugin packages' functions,
    which the workers import)."""
    if not ray_available():
        raise ValidationError(
            "--workers / --ray-address need Ray, which is not installed: pip install 'ray[default]' "
            "(or pip install -e '.[ray]')"
        )
    import ray

    started = not ray.is_initialized()
    if started:
        if config.ray_address:
            ray.init(address=config.ray_address, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(num_cpus=config.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=0)(run_scenario)
    max_in_flight = config.workers or len(scenes)
    queue = list(scenes)
    pending: list = []
    try:
        while queue or pending:
            while queue and len(pending) < max_in_flight:
                pending.append(task.remote(config, plugins, queue.pop(0)))
            done, pending = ray.wait(pending, num_returns=1)
            on_record(ray.get(done[0]))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
