"""A small hand-made WorldSpec: a straight road with raised sidewalks, terrain, a building, a tree,
a parked car, an oncoming car, a walking pedestrian and an ego driving along the road.

The scene is built in a local frame (road along +x) and placed in the world by ``WORLD_FROM_LOCAL``
(rotated and far from the origin) so frame handling is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from occplan.types import LabelSet, Pose
from occplan.world.generated import GeneratedWorld
from occplan.world.spec import AgentTrack, EgoTrack, MapLayers, StaticMesh, WorldSpec

WORLD_FROM_LOCAL = Pose.from_xy_yaw(312.0, 845.0, 0.5)
START_US = 1_600_000_000_000_000
DURATION_S = 6.0
EGO_SPEED_MPS = 5.0
ONCOMING_SPEED_MPS = 6.0
GENERAL = LabelSet.lidarseg_general()


def _slab(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(x1 - x0, y1 - y0, z1 - z0))
    box.apply_translation(((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2))
    return box


def _static_mesh() -> StaticMesh:
    trunk = trimesh.creation.cylinder(radius=0.25, height=3.0, sections=12)
    trunk.apply_translation((6.0, -11.0, 1.65))
    crown = trimesh.creation.icosphere(subdivisions=2, radius=2.0)
    crown.apply_translation((6.0, -11.0, 4.8))
    parts = [
        (_slab(-120, 120, -4, 4, -0.5, 0.0), "flat.driveable_surface", (72, 72, 78)),
        (_slab(-120, 120, 4, 8, -0.5, 0.15), "flat.sidewalk", (165, 160, 150)),
        (_slab(-120, 120, -8, -4, -0.5, 0.15), "flat.sidewalk", (165, 160, 150)),
        (_slab(-120, 120, 8, 70, -0.5, 0.15), "flat.terrain", (90, 130, 60)),
        (_slab(-120, 120, -70, -8, -0.5, 0.15), "flat.terrain", (90, 130, 60)),
        (_slab(18, 34, 10, 22, 0.15, 12.0), "static.manmade", (170, 120, 100)),
        (trunk, "static.vegetation", (100, 70, 40)),
        (crown, "static.vegetation", (40, 110, 40)),
    ]
    vertices, faces, labels, rgbs, offset = [], [], [], [], 0
    for mesh, label, rgb in parts:
        vertices.append(WORLD_FROM_LOCAL.transform_points(mesh.vertices))
        faces.append(mesh.faces + offset)
        labels.append(np.full(len(mesh.faces), GENERAL.index(label), np.uint8))
        rgbs.append(np.tile(np.array(rgb, np.uint8), (len(mesh.faces), 1)))
        offset += len(mesh.vertices)
    return StaticMesh(
        np.concatenate(vertices), np.concatenate(faces).astype(np.int32), np.concatenate(labels), np.concatenate(rgbs)
    )


def _track(
    instance: str, category: str, size_wlh, xy0, velocity_xy, attribute: str, rgb, ground_z_m: float = 0.0
) -> AgentTrack:
    """A constant-velocity track (local frame xy0, velocity, standing on ``ground_z_m``) sampled at 20 Hz,
    placed in the world."""
    times = START_US + np.arange(0, int(DURATION_S * 20) + 1, dtype=np.int64) * 50_000
    t_s = (times - START_US) / 1e6
    v = np.asarray(velocity_xy, np.float64)
    xy = np.asarray(xy0, np.float64) + t_s[:, None] * v
    size = np.asarray(size_wlh, np.float64)
    local = np.concatenate([xy, np.full((len(t_s), 1), ground_z_m + size[2] / 2)], axis=1)
    heading = float(np.arctan2(v[1], v[0])) if np.any(v) else 0.0
    vel_world = WORLD_FROM_LOCAL.transform_vectors(
        np.concatenate([np.tile(v, (len(t_s), 1)), np.zeros((len(t_s), 1))], 1)
    )
    return AgentTrack(
        instance=instance,
        category=category,
        label=GENERAL.index(category),
        size_m=size,
        times_us=times,
        center_m=WORLD_FROM_LOCAL.transform_points(local),
        yaw_rad=np.full(len(t_s), heading + WORLD_FROM_LOCAL.yaw_rad),
        velocity_mps=vel_world[:, :2].copy(),
        attribute=np.zeros(len(t_s), np.int16),
        attribute_names=(attribute,),
        rgb=np.array(rgb, np.uint8),
    )


def make_spec() -> WorldSpec:
    times = START_US + np.arange(0, int(DURATION_S * 20) + 1, dtype=np.int64) * 50_000
    t_s = (times - START_US) / 1e6
    ego_local = np.stack([-5.0 + EGO_SPEED_MPS * t_s, np.full_like(t_s, -2.0), np.zeros_like(t_s)], axis=1)
    ego_xy = WORLD_FROM_LOCAL.transform_points(ego_local)[:, :2]
    agents = (
        _track(
            "parked_car", "vehicle.car", (1.9, 4.5, 1.6), (-14.0, -2.4), (0.0, 0.0), "vehicle.parked", (30, 60, 160)
        ),
        _track(
            "oncoming_car",
            "vehicle.car",
            (1.9, 4.6, 1.5),
            (40.0, 2.0),
            (-ONCOMING_SPEED_MPS, 0.0),
            "vehicle.moving",
            (180, 30, 30),
        ),
        _track(
            "walker",
            "human.pedestrian.adult",
            (0.6, 0.7, 1.75),
            (-6.0, 6.0),
            (1.4, 0.0),
            "pedestrian.moving",
            (200, 170, 60),
            ground_z_m=0.15,  # on the raised sidewalk
        ),
    )
    return WorldSpec(
        scene_name="fixture-0001",
        location="fixture-town",
        seed=0,
        start_time_us=START_US,
        duration_s=DURATION_S,
        static=_static_mesh(),
        agents=agents,
        ego=EgoTrack(
            times,
            ego_xy,
            np.zeros(len(times)),
            np.full(len(times), WORLD_FROM_LOCAL.yaw_rad),
            np.full(len(times), EGO_SPEED_MPS),
        ),
        map=MapLayers((), (), (), (), (), (), (), (), ()),
        route_xy_m=ego_xy[[0, -1]].copy(),
    )


@pytest.fixture(scope="session")
def world_spec() -> WorldSpec:
    return make_spec()


@pytest.fixture(scope="session")
def world(world_spec: WorldSpec) -> GeneratedWorld:
    return GeneratedWorld(world_spec)


@pytest.fixture(scope="session")
def keyframe(world: GeneratedWorld) -> tuple[Pose, int]:
    """(world_from_ego, time_us) at t = 2 s on the expert log."""
    time_us = START_US + 2_000_000
    return world.logged_world_from_ego(time_us), time_us
