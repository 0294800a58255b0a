"""Each label step on hand-built scenes with hand-derived answers (no dataroot needed)."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.labels.aggregate import place_objects
from occplan.labels.densify import densify
from occplan.labels.flow import object_flow
from occplan.labels.semantics import box_labels, majority, static_cloud
from occplan.labels.split import boxes_of_points
from occplan.labels.visibility import camera_mask, lidar_mask, mask_sweeps
from occplan.labels.voxelise import vote
from occplan.types import AgentBox, CameraFrame, GridSpec, LabelSet, Pose

OCC = LabelSet.occ3d()
FREE = OCC.free_index
CAR, ROAD, MANMADE = OCC.index("car"), OCC.index("driveable_surface"), OCC.index("manmade")
GEN = LabelSet.lidarseg_general()
SMALL = GridSpec("test", (0.0, 0.0, 0.0), 1.0, (10, 10, 4), "ego")  # 1 m voxels, voxel (i, j, k) = [i, i+1) ...


def box(center, yaw, vel=(0.0, 0.0), size=(2.0, 4.0, 1.5), category="vehicle.car", instance="a") -> AgentBox:
    return AgentBox(np.array(center, float), np.array(size, float), yaw, np.array(vel, float), category, instance)


def test_split_assigns_points_to_boxes_in_their_frame():
    # a 4 m long, 2 m wide, 1.5 m high box at (10, 5, 1) heading +y (yaw 90 deg)
    center, half, yaw = np.array([[10.0, 5.0, 1.0]]), np.array([[2.0, 1.0, 0.75]]), np.array([np.pi / 2])
    pts = np.array([[10.0, 6.5, 1.0], [10.9, 5.0, 1.2], [11.5, 5.0, 1.0], [10.0, 5.0, 1.9], [10.0, 5.0, 1.8]])
    idx, local = boxes_of_points(pts, center, half, yaw, margin_m=0.1)
    # 1.5 m ahead along the heading; 0.9 m to the right; 1.5 m right (outside); 0.9 m up (outside);
    # 0.8 m up: inside the 0.75 m half height grown by 0.1 m
    assert idx.tolist() == [0, 0, -1, -1, 0]
    np.testing.assert_allclose(local[0], [1.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(local[1], [0.0, -0.9, 0.2], atol=1e-6)


def test_box_points_aggregate_in_box_frame_and_land_at_the_new_pose():
    # the same car seen at two times, 3 m apart and turned by 90 degrees: its points in the box frame agree
    first, second = box((0.0, 0.0, 1.0), 0.0), box((3.0, 1.0, 1.0), np.pi / 2)
    local_pts = np.array([[2.0, 0.5, 0.2], [-1.9, -0.9, -0.7]])  # front-left-top, rear-right-bottom
    seen = []
    for b in (first, second):
        c, s = np.cos(b.yaw_rad), np.sin(b.yaw_rad)
        world = local_pts @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) + b.center_m
        half = np.array([[b.size_m[1], b.size_m[0], b.size_m[2]]]) / 2
        idx, local = boxes_of_points(world, b.center_m[None], half, np.array([b.yaw_rad]), 0.0)
        assert (idx == 0).all()
        seen.append(local)
    np.testing.assert_allclose(seen[0], seen[1], atol=1e-5)
    # placed at a keyframe box pose (x = 20, y = -4, heading -y): front-left -> (20 + 0.5, -4 - 2), ...
    target = box((20.0, -4.0, 1.0), -np.pi / 2, instance="a")
    placed, which = place_objects(np.concatenate(seen), np.zeros(4, np.int32), (target,), {"a": 0})
    np.testing.assert_allclose(placed[0], [20.5, -6.0, 1.2], atol=1e-5)
    np.testing.assert_allclose(placed[1], [19.1, -2.1, 0.3], atol=1e-5)
    assert which.tolist() == [0, 0, 0, 0]


def test_moving_object_stays_compact():
    # a car driving 2 m per frame along x for 10 frames: pooling its world points smears it over 20 m,
    # pooling them in its box frame and placing them at the last pose keeps it within its box
    grid = GridSpec("line", (-10.0, -5.0, 0.0), 0.4, (100, 25, 8), "ego")
    rng = np.random.default_rng(0)
    local = rng.uniform([-2, -1, -0.75], [2, 1, 0.75], size=(200, 3))
    world, pooled = [], []
    for t in range(10):
        b = box((-8.0 + 2.0 * t, 0.0, 1.0), 0.0)
        pts = local + b.center_m
        world.append(pts)
        idx, loc = boxes_of_points(pts, b.center_m[None], np.array([[2.0, 1.0, 0.75]]), np.zeros(1), 0.1)
        pooled.append(loc[idx >= 0])
    last = box((10.0, 0.0, 1.0), 0.0)
    placed, _ = place_objects(np.concatenate(pooled), np.zeros(2000, np.int32), (last,), {"a": 0})
    compact = vote(placed, np.full(len(placed), CAR, np.uint8), grid) == CAR
    smeared = vote(np.concatenate(world), np.full(2000, CAR, np.uint8), grid) == CAR
    ii = np.nonzero(compact)[0]
    assert (ii.min(), ii.max()) == (45, 54)  # the box's x in [8, 12) m = voxels (8 + 10) / 0.4 = 45 .. 54
    assert np.nonzero(smeared)[0].ptp() > 40


def test_majority_vote_and_ties():
    keys, label, total = majority(np.array([5, 5, 5, 2, 2]), np.array([3, 4, 4, 7, 1], np.uint8))
    assert keys.tolist() == [2, 5] and label.tolist() == [1, 4] and total.tolist() == [2.0, 3.0]
    _, weighted, _ = majority(np.array([1, 1]), np.array([9, 3], np.uint8), np.array([5.0, 1.0]))
    assert weighted.tolist() == [9]


def test_static_cloud_transfers_labels_within_radius():
    unl = 255
    pts = np.array([[0.05, 0.05, 0.05], [0.35, 0.05, 0.05], [3.05, 0.05, 0.05], [5.05, 0.05, 0.05]])
    lab = np.array([GEN.index("flat.driveable_surface"), unl, unl, GEN.index("noise")], np.uint8)
    cloud = static_cloud(pts, lab, cell_m=0.1, radius_m=0.5)
    # the road point; the unlabelled one 0.3 m away takes road; the one 3 m away has no labelled
    # neighbour within 0.5 m; the noise point votes for nothing and has no neighbour either
    np.testing.assert_allclose(cloud.points_m, [[0.05, 0.05, 0.05], [0.35, 0.05, 0.05]], atol=1e-9)
    assert cloud.label.tolist() == [ROAD, ROAD]
    assert box_labels((box((0, 0, 0), 0.0, category="vehicle.car"), box((0, 0, 0), 0.0, category="x.y"))).tolist() == [
        CAR,
        OCC.index("others"),
    ]


def test_static_wall_and_ground_densify():
    sem = np.full((20, 20, 6), FREE, np.uint8)
    wall = np.zeros_like(sem, bool)
    wall[10, 2:18, 1:5] = True
    holes = wall.copy()
    holes[10, 4:16:3, 2] = False  # 4 single missing voxels in the wall (y = 4, 7, 10, 13)
    sem[holes] = MANMADE
    ground = np.zeros_like(sem, bool)
    ground[:, :, 0] = True
    ground[3:5, :, 0] = False  # a 2-voxel strip the LiDAR rings missed
    sem[ground] = ROAD
    out = densify(sem, ground_bridge_vox=2, bridge_vox=1)
    assert (out[wall] == MANMADE).all()  # the wall holes are filled with the wall's class
    assert (out[:, :, 0] == ROAD).all()  # the ground strip is filled with road
    added = (out != FREE) & (sem == FREE)
    assert added.sum() == 4 + 2 * 20  # the 4 wall holes and the 2 x 20 ground strip: no corner is filled
    assert (densify(sem, 0, 0) == sem).all()


def test_lidar_mask_equals_hand_cells():
    # one ray from (0.5, 0.5, 0.5) to (3.5, 0.5, 0.5): voxels x = 0..3 at y = 0, z = 0; a second sweep's
    # ray straight up from (5.5, 5.5, 0.5) to (5.5, 5.5, 2.2): z = 0..2
    m = lidar_mask([np.array([0.5, 0.5, 0.5]), np.array([5.5, 5.5, 0.5])],
                   [np.array([[3.5, 0.5, 0.5]]), np.array([[5.5, 5.5, 2.2]])], SMALL)  # fmt: skip
    want = np.zeros(SMALL.shape, bool)
    want[0:4, 0, 0] = True
    want[5, 5, 0:3] = True
    assert (m == want).all()


def test_camera_mask_stops_at_first_occupied_voxel():
    # one pixel looking along ego +x from (0.5, 2.5, 1.5); a wall at x = 6: the ray sees x = 0..6
    sem = np.full(SMALL.shape, FREE, np.uint8)
    sem[6, :, :] = MANMADE
    ego_from_cam = Pose(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), np.array([0.5, 2.5, 1.5]))
    k = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    cam = CameraFrame("CAM_FRONT", k, ego_from_cam, 1, 1, image=np.zeros((1, 1, 3), np.uint8))
    m = camera_mask(sem, (cam,), Pose.identity(), SMALL, (1, 1))
    want = np.zeros(SMALL.shape, bool)
    want[0:7, 2, 1] = True
    assert (m == want).all()


def test_mask_sweeps_pick_the_nearest_existing_sweeps():
    times = np.arange(0, 2_000_001, 50_000)  # 20 Hz over 2 s
    assert mask_sweeps(times, 500_000, (-10, -5, 0, 5, 10)).tolist() == [0, 5, 10, 15, 20]
    assert mask_sweeps(times, 0, (-10, -5, 0, 5, 10)).tolist() == [0, 5, 10]  # none before the start
    keyframes = np.array([0, 500_000, 1_000_000])  # a keyframes-only chain: +-10 sweeps = the neighbours
    assert mask_sweeps(keyframes, 500_000, (-10, -5, 0, 5, 10)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("grid_yaw", [0.0, 0.3])
def test_flow_equals_box_velocity_in_grid_frame(grid_yaw):
    moving = box((2.5, 2.5, 0.5), 0.0, vel=(3.0, -1.0))
    still = box((7.5, 7.5, 0.5), 0.0, instance="b")
    pts = np.array([[2.5, 2.5, 0.5], [2.6, 2.4, 0.5], [7.5, 7.5, 0.5]])
    grid_from_ego = Pose.from_xy_yaw(0.0, 0.0, grid_yaw)
    flow = object_flow(pts, np.array([0, 0, 1]), (moving, still), grid_from_ego, SMALL)
    c, s = np.cos(grid_yaw), np.sin(grid_yaw)
    np.testing.assert_allclose(flow[2, 2, 0], [3.0 * c + s, 3.0 * s - c], atol=1e-6)
    assert np.count_nonzero(np.abs(flow).sum(axis=-1)) == 1  # the still box's voxel and the rest: zero


def test_movable_cells_are_told_apart():
    gen = [GEN.index(n) for n in ("human.pedestrian.adult", "static.manmade", "movable_object.barrier", "vehicle.car")]
    pts = np.array([[0.05, 0.05, 0.05], [1.05, 0.05, 0.05], [2.05, 0.05, 0.05], [3.05, 0.05, 0.05]])
    cloud = static_cloud(pts, np.array(gen, np.uint8), cell_m=0.1, radius_m=0.5)
    # pedestrians and cars move (not pooled over time outside their boxes); barriers and walls do not
    assert cloud.movable().tolist() == [True, False, False, True]
    kept = cloud.select(~cloud.movable()) + cloud.select(cloud.movable())
    assert kept.label.tolist() == [MANMADE, OCC.index("barrier"), OCC.index("pedestrian"), CAR]
    assert kept.weight.tolist() == [1.0] * 4
