"""The scenario types (``ScenarioType``), their situations, and ``build_scenario``: a world of a type
whose check passed, with its tag for ``scenario_types.json``.

A type's world is drawn from the scene seed; when the drawn world cannot hold the situation
(``StagingError``) or its check fails, the next attempt's seed (hash-derived from the scene seed and
the attempt) is tried, up to ``MAX_ATTEMPTS``; the tag records the attempt. Everything stays a
deterministic function of the scene seed.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from occplan.data.scenario_types import ScenarioTag
from occplan.errors import ValidationError
from occplan.world.generated import GeneratedWorld
from occplan.world.rig import SensorRig
from occplan.world.spec import WorldSpec
from scenarios.build.config import BuildConfig
from scenarios.build.situations.base import Situation, StagingError
from scenarios.build.situations.braking_lead import BrakingLead
from scenarios.build.situations.construction_zone import ConstructionZone
from scenarios.build.situations.cut_in import CutIn
from scenarios.build.situations.lane_following import LaneFollowing
from scenarios.build.situations.occluded_pedestrian import OccludedPedestrian
from scenarios.build.situations.stopped_vehicle import StoppedVehicle
from scenarios.build.situations.unprotected_turn import UnprotectedTurn
from scenarios.build.world import assemble_world

MAX_ATTEMPTS = 12
# Bump whenever a situation stages or checks differently (invalidates caches of datasets with types).
SITUATIONS_VERSION = 2


class ScenarioType(StrEnum):
    """The implemented scenario types (the value is the tag written to ``scenario_types.json``)."""

    OCCLUDED_PEDESTRIAN = "occluded_pedestrian"
    BRAKING_LEAD = "braking_lead"
    CONSTRUCTION_ZONE = "construction_zone"
    CUT_IN = "cut_in"
    STOPPED_VEHICLE = "stopped_vehicle"
    UNPROTECTED_TURN = "unprotected_turn"
    LANE_FOLLOWING = "lane_following"


SITUATIONS: dict[ScenarioType, Situation] = {
    ScenarioType.OCCLUDED_PEDESTRIAN: OccludedPedestrian(),
    ScenarioType.BRAKING_LEAD: BrakingLead(),
    ScenarioType.CONSTRUCTION_ZONE: ConstructionZone(),
    ScenarioType.CUT_IN: CutIn(),
    ScenarioType.STOPPED_VEHICLE: StoppedVehicle(),
    ScenarioType.UNPROTECTED_TURN: UnprotectedTurn(),
    ScenarioType.LANE_FOLLOWING: LaneFollowing(),
}


def scenario_type(name: str) -> ScenarioType:
    """The type called ``name``; an unknown name is an error listing the known ones."""
    try:
        return ScenarioType(name)
    except ValueError:
        known = ", ".join(t.value for t in ScenarioType)
        raise ValidationError(f"unknown scenario type {name!r}; known: {known}") from None


def attempt_seed(seed: int, attempt: int) -> int:
    """World seed of ``attempt`` (0 = the scene seed itself), 31-bit."""
    if attempt == 0:
        return seed
    return int(hashlib.md5(f"occplan/scenario-attempt/{seed}/{attempt}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def build_scenario(
    seed: int,
    scene_name: str,
    duration_s: float,
    kind: ScenarioType,
    rig: SensorRig,
    *,
    location: str = "boston-seaport",
    origin_xy_m: tuple[float, float] = (0.0, 0.0),
    config: BuildConfig | None = None,
) -> tuple[WorldSpec, GeneratedWorld, ScenarioTag]:
    """A world of type ``kind`` whose check passed (sensors of ``rig``), the ``GeneratedWorld`` that
    checked it, and its tag (the check's facts plus ``attempt`` and ``world_seed``)."""
    situation = SITUATIONS[kind]
    last: dict = {}
    for attempt in range(MAX_ATTEMPTS):
        world_seed = attempt_seed(seed, attempt)
        try:
            spec, staged = assemble_world(
                world_seed, scene_name, duration_s, location=location, origin_xy_m=origin_xy_m, config=config,
                situation=situation,
            )  # fmt: skip
        except StagingError as e:
            last = {"passed": False, "reason": str(e)}
            continue
        world = GeneratedWorld(spec, rig=rig)
        facts = situation.check(spec, world, staged)
        if facts["passed"]:
            return spec, world, ScenarioTag(kind.value, {**facts, "attempt": attempt, "world_seed": world_seed})
        last = facts
    raise ValidationError(
        f"{scene_name}: no world of scenario type {kind.value!r} passed its check in {MAX_ATTEMPTS} attempts "
        f"from seed {seed}; last: {last}"
    )
