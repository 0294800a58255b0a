"""nuScenes categories, sizes, speeds, attributes and colours of the generated agents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from occplan.types import LabelSet
from occplan.world.spec import AgentTrack

VEHICLE_ATTRIBUTES = ("vehicle.moving", "vehicle.stopped", "vehicle.parked")
CYCLE_ATTRIBUTES = ("cycle.with_rider", "cycle.without_rider")
PEDESTRIAN_ATTRIBUTES = ("pedestrian.moving", "pedestrian.standing")

# lidarseg general classes of static geometry
DRIVEABLE, OTHER_FLAT, SIDEWALK, TERRAIN, MANMADE, VEGETATION = 24, 25, 26, 27, 28, 30


@dataclass(frozen=True)
class AgentKind:
    """``size_m`` mean (width, length, height); sizes vary by +-``size_jitter`` relative."""

    category: str
    size_m: tuple[float, float, float]
    speed_mps: tuple[float, float]
    attributes: tuple[str, ...]
    size_jitter: float = 0.06

    @property
    def label(self) -> int:
        return LabelSet.lidarseg_general().index(self.category)

    def sample_size(self, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.size_m) * (1.0 + rng.uniform(-self.size_jitter, self.size_jitter, 3))


KINDS = {
    "car": AgentKind("vehicle.car", (1.95, 4.6, 1.72), (8.0, 12.5), VEHICLE_ATTRIBUTES),
    "truck": AgentKind("vehicle.truck", (2.5, 6.9, 2.85), (7.0, 10.0), VEHICLE_ATTRIBUTES, 0.1),
    "bus": AgentKind("vehicle.bus.rigid", (2.93, 11.2, 3.5), (7.0, 9.5), VEHICLE_ATTRIBUTES, 0.03),
    "bicycle": AgentKind("vehicle.bicycle", (0.6, 1.7, 1.3), (4.0, 6.0), CYCLE_ATTRIBUTES),
    "motorcycle": AgentKind("vehicle.motorcycle", (0.77, 2.1, 1.45), (8.0, 12.0), CYCLE_ATTRIBUTES),
    "adult": AgentKind("human.pedestrian.adult", (0.67, 0.73, 1.77), (1.0, 1.6), PEDESTRIAN_ATTRIBUTES),
    "child": AgentKind("human.pedestrian.child", (0.5, 0.5, 1.25), (0.9, 1.3), PEDESTRIAN_ATTRIBUTES),
    "cone": AgentKind("movable_object.trafficcone", (0.41, 0.40, 1.07), (0.0, 0.0), (), 0.05),
    "barrier": AgentKind("movable_object.barrier", (2.5, 0.5, 0.98), (0.0, 0.0), (), 0.03),
}
VEHICLE_MIX = (("car", 0.72), ("truck", 0.08), ("bus", 0.05), ("bicycle", 0.07), ("motorcycle", 0.08))

CAR_PAINTS = np.array(
    [[200, 200, 205], [30, 30, 35], [150, 20, 25], [20, 50, 120], [120, 125, 130], [230, 230, 225], [60, 80, 60]],
    dtype=np.uint8,
)
KIND_RGB = {
    "truck": (235, 235, 230),
    "bus": (210, 160, 30),
    "bicycle": (40, 90, 160),
    "motorcycle": (25, 25, 25),
    "adult": (70, 60, 110),
    "child": (180, 70, 60),
    "cone": (240, 110, 20),
    "barrier": (230, 230, 60),
}


def kind_rgb(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Albedo of an agent: a random car paint, otherwise the kind's colour with a little variation."""
    if kind == "car":
        return CAR_PAINTS[rng.integers(len(CAR_PAINTS))].copy()
    return np.clip(np.asarray(KIND_RGB[kind]) + rng.integers(-15, 16, 3), 0, 255).astype(np.uint8)


def sample_vehicle_kind(rng: np.random.Generator) -> str:
    names = [k for k, _ in VEHICLE_MIX]
    p = np.array([w for _, w in VEHICLE_MIX])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def instance_token(scene_name: str, index: int) -> str:
    """Deterministic 32-hex instance token."""
    return hashlib.md5(f"occplan/{scene_name}/instance/{index}".encode()).hexdigest()


def make_track(
    instance: str,
    kind: str,
    size_m: np.ndarray,
    times_us: np.ndarray,
    center_m: np.ndarray,
    yaw_rad: np.ndarray,
    velocity_mps: np.ndarray,
    attribute: np.ndarray,
    rgb: np.ndarray,
) -> AgentTrack:
    k = KINDS[kind]
    return AgentTrack(
        instance=instance,
        category=k.category,
        label=k.label,
        size_m=np.asarray(size_m, dtype=np.float64),
        times_us=np.asarray(times_us, dtype=np.int64),
        center_m=np.asarray(center_m, dtype=np.float64),
        yaw_rad=np.asarray(yaw_rad, dtype=np.float64),
        velocity_mps=np.asarray(velocity_mps, dtype=np.float64),
        attribute=np.asarray(attribute, dtype=np.int16),
        attribute_names=k.attributes,
        rgb=np.asarray(rgb, dtype=np.uint8),
    )


def static_track(
    instance: str, kind: str, size_m: np.ndarray, times_us: np.ndarray, xy_m, z_m: float, yaw_rad: float, attr: int, rgb
) -> AgentTrack:
    """A parked / static object: constant pose over ``times_us``; ``attr`` -1 for objects without attributes."""
    t = len(times_us)
    center = np.tile([xy_m[0], xy_m[1], z_m + size_m[2] / 2], (t, 1))
    return make_track(
        instance, kind, size_m, times_us, center, np.full(t, yaw_rad), np.zeros((t, 2)), np.full(t, attr), rgb
    )
