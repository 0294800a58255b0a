"""The fixed rows of a generated dataroot: version name, sensors, categories, attributes, visibility.

Category rows list all 32 nuScenes-lidarseg general classes with their ``index`` (the lidarseg label
written to ``lidarseg/<version>/*.bin``), in the order of ``LabelSet.lidarseg_general()``.
"""

from __future__ import annotations

from occplan.types import CAMERA_CHANNELS, LabelSet
from scenarios.writer.tokens import make_token

VERSION = "v1.0-occplan"
# Bumped whenever the files written for the same world change (a cached dataroot is then regenerated).
WRITER_FORMAT_VERSION = 1
LIDAR_CHANNEL = "LIDAR_TOP"
CHANNELS = (LIDAR_CHANNEL, *CAMERA_CHANNELS)

# nuScenes attribute names (the 8 official ones) with short descriptions.
ATTRIBUTES = (
    ("vehicle.moving", "The vehicle is in motion."),
    ("vehicle.stopped", "The vehicle has a driver and is standing still for the moment."),
    ("vehicle.parked", "The vehicle is stationary with no driver."),
    ("cycle.with_rider", "There is a rider on the bicycle or motorcycle."),
    ("cycle.without_rider", "There is no rider on the bicycle or motorcycle."),
    ("pedestrian.sitting_lying_down", "The pedestrian is sitting or lying down."),
    ("pedestrian.standing", "The pedestrian is standing."),
    ("pedestrian.moving", "The pedestrian is moving."),
)

# Visibility tokens "1".."4": fraction of the object visible from the cameras.
VISIBILITY_BINS = (
    ("1", "v0-40", 0.0, 0.4),
    ("2", "v40-60", 0.4, 0.6),
    ("3", "v60-80", 0.6, 0.8),
    ("4", "v80-100", 0.8, 1.01),
)


def category_token(name: str) -> str:
    return make_token("category", name)


def attribute_token(name: str) -> str:
    return make_token("attribute", name)


def sensor_token(channel: str) -> str:
    return make_token("sensor", channel)


def category_rows() -> list[dict]:
    names = LabelSet.lidarseg_general().class_names
    return [
        {
            "token": category_token(n),
            "name": n,
            "description": f"Generated {n} (nuScenes-lidarseg class {i}).",
            "index": i,
        }
        for i, n in enumerate(names)
    ]


def attribute_rows() -> list[dict]:
    return [{"token": attribute_token(n), "name": n, "description": d} for n, d in ATTRIBUTES]


def visibility_rows() -> list[dict]:
    return [
        {"token": t, "level": lvl, "description": f"between {lo:.0%} and {min(hi, 1.0):.0%} of the object is visible"}
        for t, lvl, lo, hi in VISIBILITY_BINS
    ]


def sensor_rows() -> list[dict]:
    return [
        {"token": sensor_token(c), "channel": c, "modality": "lidar" if c == LIDAR_CHANNEL else "camera"}
        for c in CHANNELS
    ]


def visibility_token(fraction: float) -> str:
    """Visibility token for the visible fraction in [0, 1]."""
    for token, _, lo, hi in VISIBILITY_BINS:
        if lo <= fraction < hi:
            return token
    return VISIBILITY_BINS[-1][0]
