"""Procedural worlds: determinism, variety, and the physical invariants of the generated scenes."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from occplan.types import LabelSet, VehicleParams
from occplan.world.spec_io import save_world
from scenarios.build import LAYOUTS, build_world, ego_box_corners, is_moving_track, layout_for_seed, translate_world
from scenarios.build.boxes import box_corners
from scenarios.build.categories import KINDS

GENERAL = LabelSet.lidarseg_general()
SEEDS = tuple(range(len(LAYOUTS)))  # one world per layout
STATIC_LABELS = {24, 25, 26, 27, 28, 30}


@pytest.fixture(scope="module")
def worlds():
    return {seed: build_world(seed, f"scene-{seed:04d}") for seed in SEEDS}


def _union(wkts, buffer_m: float = 0.0) -> shapely.Geometry:
    geom = shapely.union_all([shapely.from_wkt(w) for w in wkts])
    geom = geom.buffer(buffer_m) if buffer_m else geom
    shapely.prepare(geom)
    return geom


def _agent_polygons(track) -> np.ndarray:
    return shapely.polygons(box_corners(track.center_m[:, :2], track.yaw_rad, track.size_m[0], track.size_m[1]))


def test_every_layout_in_five_consecutive_seeds():
    assert sorted(layout_for_seed(s) for s in range(10, 15)) == sorted(LAYOUTS)


def test_layout_specific_map_layers(worlds):
    for seed, w in worlds.items():
        layout = layout_for_seed(seed)
        junction = layout in ("t_junction", "crossroad")
        assert bool(w.map.lane_connector) == junction, layout
        if junction:
            arms = 3 if layout == "t_junction" else 4
            assert len(w.map.lane_connector) == arms * (arms - 1)
        # lanes are chained segments of at most 50 m: every lane but the last of a chain has a successor
        lines = [shapely.from_wkt(c) for _, c in w.map.lane + w.map.lane_connector]
        starts = np.array([ln.coords[0] for ln in lines])
        ends = np.array([ln.coords[-1] for ln in lines])
        assert max(ln.length for ln in lines[: len(w.map.lane)]) <= 50.0 + 1e-6
        has_next = (np.linalg.norm(ends[:, None] - starts[None], axis=-1) < 1e-2).any(axis=1)
        assert has_next.sum() >= len(lines) - 2 * (arms if junction else 1)
        assert bool(w.map.carpark_area) == (layout == "parking_lot")
        for name in ("drivable_area", "road_segment", "lane", "ped_crossing", "walkway", "stop_line", "lane_divider"):
            assert getattr(w.map, name), f"{layout}: empty {name}"


def test_same_seed_same_bytes_different_seed_different_world(worlds, tmp_path):
    again = build_world(3, "scene-0003")
    save_world(worlds[3], tmp_path / "a")
    save_world(again, tmp_path / "b")
    for name in ("world.json", "world.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = build_world(3 + len(LAYOUTS), "scene-0003")  # same layout, different seed
    assert layout_for_seed(3 + len(LAYOUTS)) == layout_for_seed(3)
    assert other.map.drivable_area != worlds[3].map.drivable_area
    assert not np.array_equal(other.ego.xy_m, worlds[3].ego.xy_m)


def test_world_inside_positive_square(worlds):
    for w in worlds.values():
        v = w.static.vertices_m
        assert v[:, :2].min() >= 0.0 and v[:, :2].max() <= 400.0
        assert shapely.total_bounds(shapely.from_wkt(list(w.map.drivable_area)))[:2].min() > 0.0


def test_ground_partitions_the_world_and_matches_the_map(worlds):
    for seed, w in worlds.items():
        tri = w.static.vertices_m[w.static.faces]
        assert set(np.unique(w.static.face_label).tolist()) <= STATIC_LABELS
        up = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        ground = np.isin(w.static.face_label, [24, 25, 26, 27]) & (up[:, 2] > 1e-12)
        assert 0.5 * up[ground, 2].sum() == pytest.approx(400.0**2, rel=1e-6), layout_for_seed(seed)
        centroid = tri[ground].mean(axis=1)
        label = w.static.face_label[ground]
        drivable = _union(w.map.drivable_area)
        inside = shapely.contains_xy(drivable, centroid[:, 0], centroid[:, 1])
        assert np.mean(inside == (label == 24)) > 0.995
        assert np.all(centroid[label == 24, 2] == 0.0) and np.all(centroid[label != 24, 2] == pytest.approx(0.15))


def test_ego_stays_on_drivable_area(worlds):
    for seed, w in worlds.items():
        corners = ego_box_corners(w.ego).reshape(-1, 2)
        area = _union(w.map.drivable_area, 0.3)
        assert shapely.contains_xy(area, corners[:, 0], corners[:, 1]).all(), layout_for_seed(seed)


def test_ego_never_overlaps_an_agent(worlds):
    for seed, w in worlds.items():
        ego = shapely.polygons(ego_box_corners(w.ego))
        t0, dt = w.ego.times_us[0], w.ego.times_us[1] - w.ego.times_us[0]
        for a in w.agents:
            idx = (a.times_us - t0) // dt
            hit = shapely.area(shapely.intersection(ego[idx], _agent_polygons(a))) > 1e-9
            assert not hit.any(), f"{layout_for_seed(seed)}: ego overlaps {a.category} at step {idx[hit][0]}"


def test_moving_agents_never_overlap(worlds):
    for seed, w in worlds.items():
        moving = [a for a in w.agents if is_moving_track(a)]
        assert len(moving) >= 10
        t0, dt = w.ego.times_us[0], w.ego.times_us[1] - w.ego.times_us[0]
        grid = np.full((len(moving), len(w.ego.times_us)), None, dtype=object)
        for k, a in enumerate(moving):
            grid[k, (a.times_us - t0) // dt] = _agent_polygons(a)
        for t in range(grid.shape[1]):
            polys = grid[:, t][grid[:, t] != None]  # noqa: E711
            tree = shapely.STRtree(polys)
            i, j = tree.query(polys, predicate="intersects")
            pairs = i < j
            area = shapely.area(shapely.intersection(polys[i[pairs]], polys[j[pairs]]))
            assert not (area > 1e-9).any(), f"{layout_for_seed(seed)}: overlap at step {t}"


def test_pedestrians_stay_on_walkways_and_crossings(worlds):
    for w in worlds.values():
        walk = _union(w.map.walkway + w.map.ped_crossing, 0.05)
        peds = [a for a in w.agents if a.category.startswith("human.pedestrian")]
        assert peds
        for p in peds:
            assert shapely.contains_xy(walk, p.center_m[:, 0], p.center_m[:, 1]).all()


def test_some_pedestrian_uses_a_crossing(worlds):
    for seed in (0, 2, 3):
        w = worlds[seed]
        crossing = _union(w.map.ped_crossing)
        peds = [a for a in w.agents if a.category.startswith("human.pedestrian")]
        assert any(shapely.contains_xy(crossing, p.center_m[:, 0], p.center_m[:, 1]).any() for p in peds)


def test_categories_labels_and_attributes(worlds):
    known = {k.category: k for k in KINDS.values()}
    for w in worlds.values():
        seen = {a.category for a in w.agents}
        assert {"vehicle.car", "human.pedestrian.adult"} <= seen
        for a in w.agents:
            assert a.category in known
            assert a.label == GENERAL.index(a.category)
            assert a.attribute_names == known[a.category].attributes
            if a.attribute_names:
                assert a.attribute.min() >= 0 and a.attribute.max() < len(a.attribute_names)
            else:
                assert np.all(a.attribute == -1)
            assert np.all(np.abs(np.asarray(a.size_m) / known[a.category].size_m - 1.0) <= 0.15)
    assert any("movable_object.trafficcone" in {a.category for a in w.agents} for w in worlds.values())


def test_tracks_are_sampled_at_20hz_and_velocity_matches_motion(worlds):
    for w in worlds.values():
        assert np.all(np.diff(w.ego.times_us) == 50_000)
        assert len(w.ego.times_us) == 401
        for a in w.agents:
            assert np.all(np.diff(a.times_us) == 50_000)
            assert a.times_us[0] >= w.ego.times_us[0] and a.times_us[-1] <= w.ego.times_us[-1]
            if len(a.times_us) > 2:
                fd = np.diff(a.center_m[:, :2], axis=0) / 0.05
                mid = 0.5 * (a.velocity_mps[1:] + a.velocity_mps[:-1])
                assert np.abs(fd - mid).max() < 0.5, a.category
        assert any(np.linalg.norm(a.velocity_mps, axis=1).max() > 5.0 for a in w.agents)


def test_ego_drives_smoothly_along_its_heading(worlds):
    vp = VehicleParams()
    for seed, w in worlds.items():
        e = w.ego
        step = np.diff(e.xy_m, axis=0)
        moving = np.linalg.norm(step, axis=1) > 0.02
        direction = np.arctan2(step[moving, 1], step[moving, 0])
        err = np.angle(np.exp(1j * (direction - e.yaw_rad[:-1][moving])))
        assert np.abs(err).max() < np.deg2rad(3.0), layout_for_seed(seed)
        accel = np.diff(e.speed_mps) / 0.05
        assert e.speed_mps.min() >= 0.0 and e.speed_mps.max() < 12.0
        assert accel.max() <= vp.max_accel_mps2 and accel.min() >= -vp.max_decel_mps2
        assert np.abs(np.diff(accel) / 0.05).max() <= 10.5
        assert np.linalg.norm(e.xy_m[-1] - e.xy_m[0]) > 30.0
        assert np.abs(np.linalg.norm(e.xy_m[:, None] - w.route_xy_m[None], axis=-1).min(axis=1)).max() < 0.3


def test_ego_turns_at_junctions(worlds):
    for seed in (2, 3):
        yaw = np.unwrap(worlds[seed].ego.yaw_rad)
        assert abs(yaw[-1] - yaw[0]) > np.deg2rad(45.0), layout_for_seed(seed)


def test_translate_world_shifts_everything(worlds):
    w = worlds[4]
    shift = np.array([1000.0, 500.0])
    moved = translate_world(w, shift)
    assert np.array_equal(moved.static.vertices_m[:, :2], w.static.vertices_m[:, :2] + shift)
    assert np.allclose(moved.ego.xy_m, w.ego.xy_m + shift)
    assert np.allclose(moved.agents[0].center_m[:, 2], w.agents[0].center_m[:, 2])
    a, b = shapely.from_wkt(w.map.lane[0][1]), shapely.from_wkt(moved.map.lane[0][1])
    assert np.allclose(shapely.get_coordinates(b), shapely.get_coordinates(a) + shift, atol=1e-3)


def test_parked_vehicles_and_work_zones_stay_out_of_the_lanes(worlds):
    for seed, w in worlds.items():
        lanes = _union([p for p, _ in w.map.lane + w.map.lane_connector])
        drivable = _union(w.map.drivable_area, 0.05)
        statics = [a for a in w.agents if not is_moving_track(a)]
        assert statics, layout_for_seed(seed)
        for a in statics:
            box = _agent_polygons(a)[0]
            assert shapely.area(shapely.intersection(box, lanes)) < 1e-6, a.category
            assert shapely.contains(drivable, box), a.category  # parking strips and the car park


def test_moving_vehicles_drive_on_lanes(worlds):
    for w in worlds.values():
        lanes = _union([p for p, _ in w.map.lane + w.map.lane_connector], 0.3)
        for a in w.agents:
            if a.category.startswith("vehicle") and is_moving_track(a):
                assert shapely.contains_xy(lanes, a.center_m[:, 0], a.center_m[:, 1]).all(), a.category


def test_scene_contents(worlds):
    categories = {a.category for w in worlds.values() for a in w.agents}
    assert {"vehicle.truck", "vehicle.bicycle", "vehicle.motorcycle", "movable_object.barrier"} <= categories
    for w in worlds.values():
        labels = set(np.unique(w.static.face_label).tolist())
        assert {24, 26, 27, 28, 30} <= labels  # road, sidewalk, terrain, buildings and poles, vegetation
        tall = w.static.vertices_m[w.static.faces[w.static.face_label == 28]][..., 2].max()
        assert tall > 5.0
