"""Label sets and the conversion tables between them (the only place they are written down).

Conversions go by class name; the nuScenes-lidarseg general(32) -> challenge(16) mapping, which is
not a name match, is the devkit's table. A class with no counterpart maps to ``UNMAPPED`` (255).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from occplan.errors import ValidationError

UNMAPPED = 255

_CHALLENGE_16 = (
    "barrier",
    "bicycle",
    "bus",
    "car",
    "construction_vehicle",
    "motorcycle",
    "pedestrian",
    "traffic_cone",
    "trailer",
    "truck",
    "driveable_surface",
    "other_flat",
    "sidewalk",
    "terrain",
    "manmade",
    "vegetation",
)

_GENERAL_32 = (
    "noise",
    "animal",
    "human.pedestrian.adult",
    "human.pedestrian.child",
    "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility",
    "human.pedestrian.police_officer",
    "human.pedestrian.stroller",
    "human.pedestrian.wheelchair",
    "movable_object.barrier",
    "movable_object.debris",
    "movable_object.pushable_pullable",
    "movable_object.trafficcone",
    "static_object.bicycle_rack",
    "vehicle.bicycle",
    "vehicle.bus.bendy",
    "vehicle.bus.rigid",
    "vehicle.car",
    "vehicle.construction",
    "vehicle.emergency.ambulance",
    "vehicle.emergency.police",
    "vehicle.motorcycle",
    "vehicle.trailer",
    "vehicle.truck",
    "flat.driveable_surface",
    "flat.other",
    "flat.sidewalk",
    "flat.terrain",
    "static.manmade",
    "static.other",
    "static.vegetation",
    "vehicle.ego",
)

# nuscenes-devkit LidarsegClassMapper: general index -> challenge index (0 = ignore).
GENERAL_TO_CHALLENGE = np.array(
    [0, 0, 7, 7, 7, 0, 7, 0, 0, 1, 0, 0, 8, 0, 2, 3, 3, 4, 5, 0, 0, 6, 9, 10, 11, 12, 13, 14, 15, 0, 16, 0],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class LabelSet:
    """An ordered list of class names. ``free_index`` is the empty-space label (None if the set
    has none); ``ignore_index`` a label that metrics skip (None if none)."""

    name: str
    class_names: tuple[str, ...]
    free_index: int | None = None
    ignore_index: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index(self, class_name: str) -> int:
        try:
            return self.class_names.index(class_name)
        except ValueError:
            raise ValidationError(
                f"LabelSet {self.name}: unknown class {class_name!r}; known: {', '.join(self.class_names)}"
            ) from None

    def validate(self, labels: np.ndarray, field: str, allow: tuple[int, ...] = ()) -> None:
        from occplan.types._check import check_labels

        check_labels(labels, f"{field} ({self.name})", self.num_classes, allow)

    def require(self, other: LabelSet, field: str) -> None:
        if other != self:
            raise ValidationError(f"{field}: expected label set {self.name}, got {other.name}")

    def table_to(self, target: LabelSet) -> np.ndarray:
        """uint8 lookup table of length num_classes: ``target_label = table[source_label]``."""
        return _table(self, target)

    def convert(self, labels: np.ndarray, target: LabelSet) -> np.ndarray:
        """Convert an integer label array to ``target``; unmatched classes become 255."""
        self.validate(labels, "labels")
        return self.table_to(target)[labels]

    # --- presets -------------------------------------------------------------------------
    @classmethod
    def occ3d(cls) -> LabelSet:
        """Occ3D-nuScenes, 18 classes: 0 others, 1..16 challenge classes, 17 free."""
        return cls("occ3d", ("others", *_CHALLENGE_16, "free"), free_index=17)

    @classmethod
    def openocc_v2(cls) -> LabelSet:
        """OpenOcc v2 (CVPR2024 challenge), 17 classes: 0 car ... 15 vegetation, 16 free."""
        names = (
            "car", "truck", "trailer", "bus", "construction_vehicle", "bicycle", "motorcycle",
            "pedestrian", "traffic_cone", "barrier", "driveable_surface", "other_flat", "sidewalk",
            "terrain", "manmade", "vegetation", "free",
        )  # fmt: skip
        return cls("openocc_v2", names, free_index=16)

    @classmethod
    def lidarseg_general(cls) -> LabelSet:
        """nuScenes-lidarseg general (fine) classes, 32, indexed as ``category.json`` ``index``."""
        return cls("lidarseg_general", _GENERAL_32)

    @classmethod
    def lidarseg_challenge(cls) -> LabelSet:
        """nuScenes-lidarseg challenge classes: 0 ignore, 1 barrier ... 16 vegetation."""
        return cls("lidarseg_challenge", ("ignore", *_CHALLENGE_16), ignore_index=0)

    @classmethod
    def openoccupancy(cls) -> LabelSet:
        """OpenOccupancy / SurroundOcc dense labels: 0 empty, 1..16 challenge classes (255 = noise)."""
        return cls("openoccupancy", ("free", *_CHALLENGE_16), free_index=0, ignore_index=UNMAPPED)


@cache
def _table(source: LabelSet, target: LabelSet) -> np.ndarray:
    general, challenge = LabelSet.lidarseg_general(), LabelSet.lidarseg_challenge()
    if source == general and target != general:
        # Route general -> challenge (devkit table) -> target by name. Ignored fine classes other
        # than noise and ego become "others" where the target has it (Occ3D convention).
        to_chal = GENERAL_TO_CHALLENGE
        via = _table(challenge, target)
        out = via[to_chal].copy()
        if "others" in target.class_names:
            ignored = (to_chal == 0) & ~np.isin(np.arange(32), [0, 31])
            out[ignored] = target.index("others")
        if target == challenge:
            out = to_chal.copy()
        return out
    out = np.full(source.num_classes, UNMAPPED, dtype=np.uint8)
    for i, name in enumerate(source.class_names):
        if name in target.class_names and name != "ignore":
            out[i] = target.class_names.index(name)
    return out
