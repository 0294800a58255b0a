"""A small hand-made WorldSpec (straight road, a building, one moving car) for writer unit tests.

Independent of the procedural builder, so the writer's tables can be checked against known values.
"""

from __future__ import annotations

import numpy as np

from occplan.types import LabelSet
from occplan.world.spec import AgentTrack, EgoTrack, MapLayers, StaticMesh, WorldSpec

GENERAL = LabelSet.lidarseg_general()
START_US = 1_600_000_000_000_000
ROAD_Y_M = 200.0
LOCATION = "singapore-onenorth"


def _box_mesh(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box as 8 vertices and 12 triangles (outward facing)."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([[x, y, z] for z in (z0, z1) for y in (y0, y1) for x in (x0, x1)], np.float64)
    f = np.array(
        [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
         [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]],
        np.int32,
    )  # fmt: skip
    return v, f


def _static() -> StaticMesh:
    ground_v = np.array([[100, 160, 0], [300, 160, 0], [100, 240, 0], [300, 240, 0]], np.float64)
    ground_f = np.array([[0, 1, 2], [1, 3, 2]], np.int32)
    bv, bf = _box_mesh((225.0, 210.0, 0.0), (240.0, 225.0, 9.0))
    vertices = np.concatenate([ground_v, bv])
    faces = np.concatenate([ground_f, bf + len(ground_v)])
    labels = np.array([GENERAL.index("flat.driveable_surface")] * 2 + [GENERAL.index("static.manmade")] * 12, np.uint8)
    rgb = np.where(labels[:, None] == labels[0], [90, 90, 95], [160, 120, 100]).astype(np.uint8)
    return StaticMesh(vertices, faces, labels, rgb)


def _car(duration_s: float) -> AgentTrack:
    t = np.arange(0, round(duration_s * 20) + 1, dtype=np.int64) * 50_000 + START_US
    x = 150.0 + 5.0 * (t - START_US) / 1e6
    centre = np.stack([x, np.full_like(x, ROAD_Y_M + 3.5), np.full_like(x, 0.8)], axis=1)
    return AgentTrack(
        instance="car-0",
        category="vehicle.car",
        label=GENERAL.index("vehicle.car"),
        size_m=np.array([1.9, 4.5, 1.6]),
        times_us=t,
        center_m=centre,
        yaw_rad=np.zeros(len(t)),
        velocity_mps=np.tile([5.0, 0.0], (len(t), 1)),
        attribute=np.zeros(len(t), np.int16),
        attribute_names=("vehicle.moving",),
        rgb=np.array([200, 30, 30], np.uint8),
    )


def _map() -> MapLayers:
    y = ROAD_Y_M

    def rect(x0: float, y0: float, x1: float, y1: float) -> str:
        return f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"

    return MapLayers(
        drivable_area=(rect(100, y - 5, 300, y + 5),),
        road_segment=(rect(100, y - 5, 300, y + 5),),
        lane=(
            (rect(100, y - 1.75, 200, y + 1.75), f"LINESTRING (100 {y}, 150 {y}, 200 {y})"),
            (rect(200, y - 1.75, 300, y + 1.75), f"LINESTRING (200 {y}, 300 {y})"),
        ),
        lane_connector=(),
        ped_crossing=(rect(250, y - 5, 254, y + 5),),
        walkway=(rect(100, y + 5, 300, y + 8),),
        stop_line=(rect(248, y - 5, 249, y),),
        lane_divider=(f"LINESTRING (100 {y + 1.75}, 300 {y + 1.75})",),
        road_divider=(f"LINESTRING (100 {y - 1.75}, 300 {y - 1.75})",),
    )


def handmade_world(duration_s: float = 2.0, seed: int = 7) -> WorldSpec:
    """Ego drives east along y = 200 m at 4 m/s from x = 130 m; a car drives east at 5 m/s one lane left."""
    t = np.arange(0, round(duration_s * 20) + 1, dtype=np.int64) * 50_000 + START_US
    x = 130.0 + 4.0 * (t - START_US) / 1e6
    ego = EgoTrack(
        times_us=t,
        xy_m=np.stack([x, np.full_like(x, ROAD_Y_M)], axis=1),
        z_m=np.zeros(len(t)),
        yaw_rad=np.zeros(len(t)),
        speed_mps=np.full(len(t), 4.0),
    )
    return WorldSpec(
        scene_name="scene-hand",
        location=LOCATION,
        seed=seed,
        start_time_us=START_US,
        duration_s=duration_s,
        static=_static(),
        agents=(_car(duration_s),),
        ego=ego,
        map=_map(),
        route_xy_m=np.array([[100.0, ROAD_Y_M], [300.0, ROAD_Y_M]]),
    )
