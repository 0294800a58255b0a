"""OccPlan: an occupancy-to-planning simulator benchmark for autonomous driving.

Importing ``occplan`` registers the ``OccDrive-v0`` Gymnasium environment (by entry-point string;
the ``envs`` package is only imported when the environment is made).
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = "occplan-metrics-2"


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
    """Register ``OccDrive-v0`` with Gymnasium once (the entry point is imported lazily)."""
    import gymnasium

    if "OccDrive-v0" not in gymnasium.registry:
        gymnasium.register(id="OccDrive-v0", entry_point="envs.occdrive:OccDriveEnv")


def _numba_cache() -> None:
    from occplan.numba_cache import configure

    configure()


_fork_safe_numba()
_numba_cache()
_register_envs()
