"""Scenario types as builder options: each implemented type builds an 8 s world whose generation check
passes, with the facts that make the type what it is (the occluded pedestrian has no LiDAR return
before it steps out and some after; the braking lead decelerates hard at its set time; the
construction zone's debris is in the occupancy GT and LiDAR but in no box; ...); the checks are not
vacuous; a world without a situation is ``build_world``'s; types are balanced per split; a dataroot
of a typed config carries ``scenario_types.json`` that ``NuScenesSource`` reads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import shapely
import shapely.affinity

from occplan.errors import ValidationError
from occplan.world.generated import GeneratedWorld
from occplan.world.rig import SensorRig
from scenarios.build import build_world
from scenarios.build.situations.registry import SITUATIONS, ScenarioType, build_scenario, scenario_type
from scenarios.build.world import assemble_world
from scenarios.generate import GenerateConfig, generate_dataroot

RIG = SensorRig.nuscenes(64, 36)
DURATION_S = 8.0


@pytest.fixture(scope="module")
def built() -> dict:
    """Every type built once from scene seed 3: (spec, world, tag)."""
    return {k: build_scenario(3, "scene-0000", DURATION_S, k, RIG) for k in ScenarioType}


@pytest.mark.parametrize("kind", list(ScenarioType))
def test_every_type_passes_its_check(built, kind) -> None:
    spec, _, tag = built[kind]
    assert tag.type == kind.value and tag.passed
    assert tag.check["world_seed"] >= 0 and tag.check["attempt"] >= 0
    assert spec.duration_s == DURATION_S


def test_occluded_pedestrian_is_hidden_until_it_steps_out(built) -> None:
    facts = built[ScenarioType.OCCLUDED_PEDESTRIAN][2].check
    assert facts["lidar_returns_before_max"] == 0 and facts["camera_pixels_before_max"] == 0
    assert facts["lidar_returns_after_max"] >= 5 and facts["camera_pixels_after_max"] >= 5
    assert facts["first_visible_s"] >= facts["step_out_s"]
    assert facts["ego_max_decel_mps2"] >= 1.5 and facts["min_gap_ego_pedestrian_m"] > 0.2


def test_braking_lead_brakes_at_its_time(built) -> None:
    facts = built[ScenarioType.BRAKING_LEAD][2].check
    assert facts["lead_max_decel_mps2"] >= 4.0
    assert abs(facts["lead_braking_onset_s"] - facts["brake_s"]) < 0.5
    assert facts["lead_final_speed_mps"] == 0.0
    assert facts["min_gap_ego_lead_m"] > 0.5


def test_construction_debris_is_occupancy_only(built) -> None:
    spec, _, tag = built[ScenarioType.CONSTRUCTION_ZONE]
    facts = tag.check
    assert facts["debris_gt_voxels"] >= 5 and facts["debris_gt_voxels_in_boxes"] == 0
    assert facts["debris_lidar_returns"] > 0
    # no annotated category for the debris: it is world geometry only
    assert not any(a.category == "movable_object.debris" for a in spec.agents)
    debris = SITUATIONS[ScenarioType.CONSTRUCTION_ZONE]
    assert np.any(spec.static.face_label == debris_label()) and debris.name == "construction_zone"


def debris_label() -> int:
    from scenarios.build.situations.construction_zone import DEBRIS

    return DEBRIS


def test_stopped_vehicle_blocks_the_lane_and_the_ego_waits(built) -> None:
    facts = built[ScenarioType.STOPPED_VEHICLE][2].check
    assert facts["moved_m"] == 0.0 and facts["ego_path_offset_m"] < 0.3
    assert facts["ego_min_speed_mps"] < 0.5 and facts["min_gap_ego_vehicle_m"] >= 1.0


def test_cut_in_crosses_into_the_lane_close_ahead(built) -> None:
    facts = built[ScenarioType.CUT_IN][2].check
    assert facts["lane_crossing_s"] > facts["depart_s"]
    assert facts["gap_at_crossing_m"] < 2.0 * facts["ego_speed_at_crossing_mps"]
    assert facts["ego_max_decel_after_mps2"] >= 1.5 and facts["min_gap_ego_merger_m"] > 0.5


def test_unprotected_turn_yields_to_the_oncoming_car(built) -> None:
    facts = built[ScenarioType.UNPROTECTED_TURN][2].check
    assert facts["turn_deg"] > 35.0
    assert facts["ego_at_conflict_s"] is None or facts["ego_at_conflict_s"] > facts["oncoming_at_conflict_s"] + 1.0
    assert facts["ego_distance_to_conflict_then_m"] < 35.0 and facts["min_gap_ego_oncoming_m"] > 1.0


def test_lane_following_is_uneventful(built) -> None:
    facts = built[ScenarioType.LANE_FOLLOWING][2].check
    assert facts["ego_max_decel_mps2"] < 3.0
    assert facts["ego_distance_m"] >= 0.5 * facts["expected_distance_m"]


def test_checks_are_not_vacuous(built) -> None:
    """The same checks fail where the situation is absent: the pedestrian check on a world where the
    child is never behind cars (moved into the lane from the start), the debris check with the
    footprints moved off the debris."""
    kind = ScenarioType.OCCLUDED_PEDESTRIAN
    spec, staged = assemble_world(built[kind][2].check["world_seed"], "scene-0000", DURATION_S,
                                  situation=SITUATIONS[kind])  # fmt: skip
    child = next(a for a in spec.agents if a.category == "human.pedestrian.child")
    k = spec.agents.index(child)
    standing = round((staged.params["step_out_s"] + 2.0) * 20)  # 20 Hz track, standing in the lane
    centre = np.repeat(child.center_m[standing : standing + 1], len(child.center_m), 0)
    in_lane = dataclasses.replace(child, center_m=centre)
    moved = dataclasses.replace(spec, agents=(*spec.agents[:k], in_lane, *spec.agents[k + 1 :]))
    actor = dataclasses.replace(staged.actors["pedestrian"], start_xy_m=in_lane.center_m[0, :2])
    staged_moved = dataclasses.replace(staged, actors={"pedestrian": actor})
    facts = SITUATIONS[kind].check(moved, GeneratedWorld(moved, rig=RIG), staged_moved)
    assert facts["lidar_returns_before_max"] > 0 and facts["camera_pixels_before_max"] > 0 and not facts["passed"]

    kind = ScenarioType.CONSTRUCTION_ZONE
    spec, world, tag = built[kind]
    _, staged = assemble_world(tag.check["world_seed"], "scene-0000", DURATION_S, situation=SITUATIONS[kind])
    off = dataclasses.replace(staged, debris_footprints=tuple(shapely.affinity.translate(p, 0.0, 60.0)
                                                             for p in staged.debris_footprints))  # fmt: skip
    facts = SITUATIONS[kind].check(spec, world, off)
    assert facts["debris_gt_voxels"] == 0 and not facts["passed"]


def test_no_situation_is_build_world() -> None:
    a = build_world(5, "scene-0000", 4.0)
    b, staged = assemble_world(5, "scene-0000", 4.0)
    assert staged is None
    assert np.array_equal(a.static.vertices_m, b.static.vertices_m)
    assert [t.instance for t in a.agents] == [t.instance for t in b.agents]
    assert all(np.array_equal(x.center_m, y.center_m) for x, y in zip(a.agents, b.agents, strict=True))
    assert np.array_equal(a.ego.xy_m, b.ego.xy_m)


def test_types_are_balanced_per_split_and_names_checked() -> None:
    types = tuple(t.value for t in ScenarioType)
    cfg = GenerateConfig(n_scenes=4 * len(types), seed=0, val_fraction=0.5, scenario_types=types)
    n = 2 * len(types)
    assert [cfg.scene_type(i) for i in range(n)] == [*types, *types]
    assert [cfg.scene_type(i) for i in range(n, 2 * n)] == [*types, *types]
    assert GenerateConfig(n_scenes=2, seed=0).scene_type(0) is None
    with pytest.raises(ValidationError, match="unknown scenario type 'roundabout'; known: occluded_pedestrian"):
        GenerateConfig(n_scenes=2, seed=0, scenario_types=("roundabout",))
    with pytest.raises(ValidationError, match="unknown scenario type"):
        scenario_type("nope")
    with pytest.raises(ValidationError, match="sweeps_per_keyframe"):
        GenerateConfig(n_scenes=2, seed=0, sweeps_per_keyframe=3)


def test_typed_dataroot_has_the_table(tmp_path) -> None:
    from occplan.data import NuScenesSource

    types = ("braking_lead", "lane_following")  # one scene per split: each split's first type
    cfg = GenerateConfig(n_scenes=2, seed=1, duration_s=6.0, cam_width_px=32, cam_height_px=18, val_fraction=0.5,
                         workers=1, scenario_types=types, sweeps_per_keyframe=2)  # fmt: skip
    generate_dataroot(tmp_path / "root", cfg, progress=False)
    table = json.loads((tmp_path / "root" / "scenario_types.json").read_text())
    assert {s: e["type"] for s, e in table.items()} == {"scene-0000": "braking_lead", "scene-0001": "braking_lead"}
    assert all(e["check"]["passed"] for e in table.values())
    source = NuScenesSource(tmp_path / "root", "v1.0-occplan")
    assert source.scenario_type("scene-0001") == "braking_lead"
    first = source.nusc.scene[0]["token"]
    times = sorted(
        r["timestamp"]
        for r in source.nusc.sample_data
        if r["channel"] == "LIDAR_TOP" and source.nusc.get("sample", r["sample_token"])["scene_token"] == first
    )
    assert set(np.diff(times)) == {250_000}  # 5 Hz LiDAR with 2 sweeps per 2 Hz keyframe


def test_bench_preset_manifest() -> None:
    """The bench preset has >= 48 val scenes balanced over every type (and as many train scenes); its
    manifest survives JSON (so the cache is reused) and names the situations' version; the mini and
    tiny manifests carry none of the fields added for it."""
    from scenarios.datasets import PRESETS, manifest_for
    from scenarios.generate import splits

    cfg = PRESETS["bench"].config
    sp = splits([f"scene-{i:04d}" for i in range(cfg.n_scenes)], cfg.val_fraction)
    assert len(sp["val"]) >= 48 and len(sp["train"]) == len(sp["val"])
    for split in sp.values():
        first = int(split[0].split("-")[1])
        counts = {t: 0 for t in ScenarioType}
        for i in range(first, first + len(split)):
            counts[ScenarioType(cfg.scene_type(i))] += 1
        assert set(counts.values()) == {len(split) // len(ScenarioType)}
    m = manifest_for(PRESETS["bench"])
    assert json.loads(json.dumps(m)) == m and m["situations_version"] >= 1
    for name in ("mini", "tiny"):
        m = manifest_for(PRESETS[name])
        assert "situations_version" not in m
        assert not {"scenario_types", "sweeps_per_keyframe"} & set(m["config"])
