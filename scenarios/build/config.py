"""Parameters of the procedural world builder (one frozen dataclass, SI units)."""

from __future__ import annotations

from dataclasses import dataclass

# Bump whenever build_world produces different worlds for the same seed (invalidates dataset caches).
BUILDER_VERSION = 2

LAYOUTS = ("straight", "curve", "t_junction", "crossroad", "parking_lot")


@dataclass(frozen=True)
class BuildConfig:
    """Geometry and population parameters of a generated world.

    The world occupies ``[0, world_size_m]^2`` (before ``origin_xy_m`` is added); roads end
    ``road_end_margin_m`` before the border, where vehicles leave the scene.
    """

    world_size_m: float = 400.0
    road_end_margin_m: float = 5.0
    lane_width_m: float = 3.5
    parking_width_m: float = 2.4
    parking_taper_m: float = 5.0
    sidewalk_width_m: float = 3.0
    kerb_height_m: float = 0.15
    crossing_width_m: float = 3.0
    path_step_m: float = 0.5
    sim_rate_hz: float = 20.0
    # population (ranges are inclusive integer bounds drawn per scene)
    moving_vehicles: tuple[int, int] = (10, 16)
    late_vehicles: tuple[int, int] = (4, 8)
    pedestrians: tuple[int, int] = (8, 14)
    crossing_pedestrians: tuple[int, int] = (1, 3)
    # ego expert
    ego_desired_speed_mps: tuple[float, float] = (8.0, 10.5)
    ego_distance_to_stop_m: tuple[float, float] = (15.0, 35.0)
