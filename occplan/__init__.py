"""OccPlan: an occupancy-to-planning simulator benchmark for autonomous driving.

Importing ``occplan`` registers the ``OccDrive-v0`` Gymnasium environment (by entry-point string;
the ``envs`` package is only imported when the environment is made).
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = "occplan-metrics-1"


def _register_envs() -> None:
    """Register ``OccDrive-v0`` with Gymnasium once (the entry point is imported lazily)."""
    import gymnasium

    if "OccDrive-v0" not in gymnasium.registry:
        gymnasium.register(id="OccDrive-v0", entry_point="envs.occdrive:OccDriveEnv")


_register_envs()
