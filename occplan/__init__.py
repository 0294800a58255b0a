"""OccPlan: an occupancy-to-planning simulator benchmark for autonomous driving.

Importing ``occplan`` registers the ``OccDrive-v0`` Gymnasium environment (by entry-point string;
the ``envs`` package is only imported when the environment is made).
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = "occplan-metrics-1"
