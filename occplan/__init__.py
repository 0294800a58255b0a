"""OccPlan: an occupancy-to-planning simulator benchmark for autonomous driving.

The core imports no plugin package, gymnasium or torch (import-linter contracts in pyproject.toml).
One documented hook: once gymnasium is imported (``import gymnasium`` before ``import occplan``, or
``gym.make("occplan:OccDrive-v0")``), importing ``occplan`` registers the ``OccDrive-v0`` environment by
importing ``envs.registration``; without gymnasium it imports nothing of ``envs``.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = "occplan-metrics-3"


def _fork_safe_numba() -> None:
    """Use numba's "workqueue" threading layer unless the user chose one: the default OpenMP layer
    terminates a forked child (Gymnasium's async vector envs, multiprocessing pools) once the
    parent has run a parallel kernel; workqueue survives fork."""
    import os
    import sys

    if "numba" in sys.modules:
        from numba import config

        if config.THREADING_LAYER == "default":
            config.THREADING_LAYER = "workqueue"
    else:
        os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


def _register_envs() -> None:
    """Register the ``envs`` environments with Gymnasium when gymnasium is already imported (the one
    import of a plugin package by the core: the contract "core imports no plugin" ignores exactly it)."""
    import sys

    if "gymnasium" in sys.modules:
        import envs.registration  # noqa: F401


def _numba_cache() -> None:
    from occplan.numba_cache import configure

    configure()


_fork_safe_numba()
_numba_cache()
_register_envs()
