"""Scale-out over Ray: one task per scenario, results handed back as each finishes.

``workers`` N >= 1 starts a local Ray runtime with N CPUs (one scenario per CPU); ``ray_address``
joins an existing cluster instead (then ``workers``, when set, caps the scenarios in flight). Ray is
an optional extra: ``pip install "ray[default]"`` (or ``pip install -e ".[ray]"``).

Fault tolerance. A scenario whose worker process dies (killed, out of memory) or whose node leaves the
cluster is run again from its start on another worker, up to ``SYSTEM_FAILURE_RETRIES`` times (Ray's
task retries for system failures). A Python exception raised by a scenario is not retried
(``retry_exceptions=False``): it reaches the caller as it is raised (Ray's ``RayTaskError`` subclass of
the original exception type). A rerun cannot duplicate a record: the task only returns the scenario's
record, and the driver hands it to ``on_record`` (which appends it to results.jsonl) once, when the
task's result arrives; an attempt that died returned nothing. The files a dead attempt may have begun
(``episodes/<scene>.npz``, plots) are written again, whole, by the attempt that completes. When a
scenario's retries are used up, the run stops with an error naming it; ``--resume`` then runs the
scenarios that have no record yet.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from occplan.errors import ValidationError
from occplan.harness.config import RunConfig
from occplan.harness.episode import run_scenario
from occplan.harness.plugins import Plugins

SYSTEM_FAILURE_RETRIES = 3
"""Reruns of a scenario whose worker process or node died (not of one that raised)."""


class ScenarioLostError(RuntimeError):
    """A scenario Ray could not complete for a reason outside its code: its worker process or node died
    on every attempt (``SYSTEM_FAILURE_RETRIES + 1``), or another Ray system error."""


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def run_on_ray(config: RunConfig, plugins: Plugins, scenes: list[str], on_record: Callable[[dict], None]) -> None:
    """Run ``run_scenario(config, plugins, s)`` for every scene on Ray; ``on_record`` gets each record as
    it finishes (in completion order), once per scene (see the module docstring on retries).
    ``config.data`` and ``config.out`` must be absolute paths that the workers can reach; ``plugins``
    travels pickled (its factories name the plugin packages' functions, which the workers import)."""
    if not ray_available():
        raise ValidationError(
            "--workers / --ray-address need Ray, which is not installed: pip install 'ray[default]' "
            "(or pip install -e '.[ray]')"
        )
    import ray
    from ray.exceptions import RayError, RayTaskError

    started = not ray.is_initialized()
    if started:
        if config.ray_address:
            ray.init(address=config.ray_address, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(num_cpus=config.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=SYSTEM_FAILURE_RETRIES, retry_exceptions=False)(run_scenario)
    max_in_flight = config.workers or len(scenes)
    queue = list(scenes)
    pending: dict = {}
    try:
        while queue or pending:
            while queue and len(pending) < max_in_flight:
                scene = queue.pop(0)
                pending[task.remote(config, plugins, scene)] = scene
            [done], _ = ray.wait(list(pending), num_returns=1)
            scene = pending.pop(done)
            try:
                record = ray.get(done)
            except RayTaskError:
                raise
            except RayError as e:
                raise ScenarioLostError(
                    f"scenario {scene}: lost to a Ray system failure ({type(e).__name__}: {e}) after "
                    f"{SYSTEM_FAILURE_RETRIES} retries at most; the finished scenarios are in "
                    f"{config.out}/results.jsonl: continue with --resume"
                ) from e
            on_record(record)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
