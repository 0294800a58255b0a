"""LiDAR simulation and agent tracks of the hand-made fixture world."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import START_US, WORLD_FROM_LOCAL

from occplan.errors import ValidationError
from occplan.types import LabelSet, Pose
from occplan.world.generated import GeneratedWorld
from occplan.world.tracks import AgentTracks

GENERAL = LabelSet.lidarseg_general()


@pytest.fixture(scope="module")
def scan(world, keyframe):
    pose, time_us = keyframe
    return world.lidar_scan(pose, time_us)


def test_scan_shape_dtypes_and_count(scan):
    n = len(scan.points_sensor)
    assert scan.points_sensor.dtype == np.float32 and scan.points_sensor.shape == (n, 5)
    assert scan.labels.dtype == np.uint8 and scan.instance.dtype == np.int32
    assert 20_000 <= n <= 32 * 1085  # the fixture has little above the horizon; open sky gives no point
    ring = scan.points_sensor[:, 4]
    assert set(np.unique(ring)) <= set(range(32)) and 0 < scan.points_sensor[:, 3].max() <= 255
    assert np.array_equal(scan.points_sensor[:, 3], np.round(scan.points_sensor[:, 3]))


def test_scan_sees_every_class_of_the_fixture(scan):
    names = {GENERAL.class_names[i] for i in np.unique(scan.labels)}
    assert {"flat.driveable_surface", "flat.sidewalk", "flat.terrain", "static.manmade", "vehicle.car"} <= names
    assert "human.pedestrian.adult" in names and "static.vegetation" in names
    assert 0 not in scan.labels  # every point hit something


def test_scan_is_deterministic_and_resimulation_reproduces_it(world, world_spec, keyframe, scan):
    pose, time_us = keyframe
    again = world.lidar_scan(pose, time_us)
    fresh = GeneratedWorld(world_spec).lidar_scan(pose, time_us)
    for other in (again, fresh):
        assert np.array_equal(other.points_sensor, scan.points_sensor)
        assert np.array_equal(other.labels, scan.labels) and np.array_equal(other.instance, scan.instance)


def test_no_points_inside_the_ego(world, scan):
    p_ego = world.rig.ego_from_lidar().transform_points(scan.points_sensor)
    assert not world.rig.ego_box_contains(p_ego, margin_m=0.0).any()


def test_points_lie_on_the_ground_plane_and_agents(world, keyframe, scan):
    """Road points lie at z = 0 of the world; agent points lie inside (on the surface of) their box."""
    pose, time_us = keyframe
    world_pts = (pose @ world.rig.ego_from_lidar()).transform_points(scan.points_sensor)
    road = scan.labels == GENERAL.index("flat.driveable_surface")
    np.testing.assert_allclose(world_pts[road, 2], 0.0, atol=1e-4)
    boxes = {b.instance: b for b in world.agent_boxes(time_us)}
    for k, instance in enumerate(world.agent_ids):
        sel = scan.instance == k
        if sel.any():
            assert boxes[instance].contains(world_pts[sel], margin_m=1e-4).all()


def test_agent_override_moves_the_returns(world, keyframe, scan):
    pose, time_us = keyframe
    boxes = world.agent_boxes(time_us)
    assert len(scan.instance[scan.instance >= 0])
    without = world.lidar_scan(pose, time_us, agents=())
    assert (without.instance == -1).all() and len(without.points_sensor) > 0
    with pytest.raises(ValidationError, match="not agents of this world"):
        world.lidar_scan(pose, time_us, agents=[replace(boxes[0], instance="ghost")])


def test_agent_boxes_interpolate_tracks(world):
    t = START_US + 1_025_000  # between two 20 Hz samples
    boxes = {b.instance: b for b in world.agent_boxes(t)}
    oncoming = boxes["oncoming_car"]
    local = WORLD_FROM_LOCAL.inverse().transform_points(oncoming.center_m[None])[0]
    np.testing.assert_allclose(local[:2], [40.0 - 6.0 * 1.025, 2.0], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(oncoming.velocity_mps), 6.0)
    assert boxes["parked_car"].attributes == ("vehicle.parked",)
    assert world.agent_boxes(START_US - 1) == ()  # before the tracks exist


def test_box_set_is_kept_for_its_time_and_matches_the_agent_boxes(world_spec):
    tracks = AgentTracks(world_spec.agents)
    t0, t1 = START_US + 1_025_000, START_US + 1_500_000
    first = tracks.box_set(t0)
    assert tracks.box_set(t0) is first  # GT and LiDAR of one decision share it
    second = tracks.box_set(t1)
    assert second is not first
    for t, box_set in ((t1, second), (t0, tracks.box_set(t0))):
        boxes = tracks.boxes(t)
        assert [tracks.ids[i] for i in box_set.instance] == [b.instance for b in boxes]
        np.testing.assert_array_equal(box_set.center_m, [b.center_m for b in boxes])
        np.testing.assert_array_equal(box_set.yaw_rad, [b.yaw_rad for b in boxes])
        np.testing.assert_array_equal(box_set.velocity_mps, [b.velocity_mps for b in boxes])


def _reference_sample(track, t):
    """One track at ``t`` the plain way: None when absent, else (centre, yaw, velocity, attribute)."""
    times = track.times_us
    if not times[0] <= t <= times[-1]:
        return None
    j = int(np.searchsorted(times, t, side="right")) - 1
    if j == len(times) - 1:
        return track.center_m[j], track.yaw_rad[j], track.velocity_mps[j], int(track.attribute[j])

    def wrap(x):
        return (x + np.pi) % (2 * np.pi) - np.pi

    a = (t - times[j]) / (times[j + 1] - times[j])
    center = (1 - a) * track.center_m[j] + a * track.center_m[j + 1]
    yaw = wrap(track.yaw_rad[j] + a * wrap(track.yaw_rad[j + 1] - track.yaw_rad[j]))
    vel = (1 - a) * track.velocity_mps[j] + a * track.velocity_mps[j + 1]
    return center, yaw, vel, int(track.attribute[j])


def _same_bits(actual, expected):
    as_bits = [np.asarray(x, np.float64).reshape(-1).view(np.int64) for x in (actual, expected)]
    np.testing.assert_array_equal(*as_bits)


def test_packed_sampler_equals_a_per_track_reference(world_spec):
    """Irregular, staggered tracks (one with a single sample, yaw far outside [-pi, pi), signed
    zeros), sampled at every sample time, one microsecond either side, between samples and outside
    every track: the packed sampler gives bit-identical boxes to the plain per-track computation."""
    rng = np.random.default_rng(7)
    base = world_spec.agents[0]
    tracks = list(world_spec.agents)
    for k, n in enumerate([1, 2, 3, 17, 40, 1]):
        times = START_US + int(rng.integers(-500_000, 3_000_000)) + np.cumsum(rng.integers(1, 120_000, n))
        center = rng.normal(0.0, 30.0, (n, 3))
        center[rng.random((n, 3)) < 0.2] = -0.0
        attribute = rng.integers(-1, 3, n).astype(np.int16)
        tracks.append(
            replace(
                base,
                instance=f"synthetic{k}",
                times_us=times.astype(np.int64),
                center_m=center,
                yaw_rad=rng.uniform(-12.0, 12.0, n),
                velocity_mps=rng.normal(0.0, 5.0, (n, 2)),
                attribute=attribute,
                attribute_names=("vehicle.moving", "vehicle.parked"),
            )
        )
    agent_tracks = AgentTracks(tracks)
    sample_times = np.unique(np.concatenate([t.times_us for t in tracks]))
    times = np.concatenate(
        [
            sample_times,
            sample_times - 1,
            sample_times + 1,
            (sample_times[:-1] + sample_times[1:]) // 2,
            rng.integers(sample_times[0] - 100_000, sample_times[-1] + 100_000, 500),
        ]
    )
    for t in (int(t) for t in times):
        expected = {i: s for i, tr in enumerate(tracks) if (s := _reference_sample(tr, t)) is not None}
        box_set, boxes = agent_tracks.box_set(t), agent_tracks.boxes(t)
        assert box_set.instance.tolist() == sorted(expected) == [agent_tracks.ids.index(b.instance) for b in boxes]
        if not expected:
            assert len(box_set) == 0 and boxes == ()
            continue
        ref = list(expected.values())
        _same_bits(box_set.center_m, [r[0] for r in ref])
        _same_bits(box_set.yaw_rad, [r[1] for r in ref])
        _same_bits(box_set.velocity_mps, [r[2] for r in ref])
        _same_bits([b.center_m for b in boxes], [r[0] for r in ref])
        _same_bits([b.yaw_rad for b in boxes], [r[1] for r in ref])
        _same_bits([b.velocity_mps for b in boxes], [r[2] for r in ref])
        for (i, r), b in zip(expected.items(), boxes, strict=True):
            names = tracks[i].attribute_names
            assert b.attributes == ((names[r[3]],) if 0 <= r[3] < len(names) else ())
    assert len(agent_tracks.box_set(int(sample_times[0]) - 1)) == 0
    assert AgentTracks([]).boxes(START_US) == () and len(AgentTracks([]).box_set(START_US)) == 0


def test_yaw_interpolates_on_the_circle(world_spec):
    track = world_spec.agents[0]
    yaw = np.where(np.arange(len(track.yaw_rad)) % 2 == 0, np.pi - 0.1, -np.pi + 0.1)
    boxes = AgentTracks([replace(track, yaw_rad=yaw)]).boxes(int(track.times_us[0] + 25_000))
    assert abs(abs(boxes[0].yaw_rad) - np.pi) < 1e-9


def test_logged_pose_follows_the_ego_track(world, world_spec):
    pose = world.logged_world_from_ego(START_US + 1_000_000)
    expected = WORLD_FROM_LOCAL @ Pose.from_xy_yaw(0.0, -2.0, 0.0)
    assert pose.allclose(expected, atol=1e-9)
