"""The face bucket index returns exactly the faces a scan over every face's bounding box returns, and
a generated world's static classes near a grid cover the classes voxelised there."""

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.rules.obstacles import ground_table
from occplan.types import GridSpec, LabelSet, Pose
from occplan.world.face_buckets import FaceBuckets
from occplan.world.occupancy_gt import grid_world_box

OCC3D = LabelSet.occ3d()


def _faces_in_box(bbox_min, bbox_max, lo, hi):
    """Every face whose bounding box meets [lo, hi], by a scan over all faces."""
    return np.flatnonzero(np.all(bbox_max >= lo, axis=1) & np.all(bbox_min <= hi, axis=1))


def test_buckets_equal_the_scan_over_every_face():
    rng = np.random.default_rng(5)
    lo = rng.uniform([-50, -50, -2], [50, 50, 3], size=(3000, 3))
    size = rng.exponential([2.0, 2.0, 1.0], size=(3000, 3))
    size[:20, :2] *= 40  # a few faces much larger than a cell
    hi = lo + size
    buckets = FaceBuckets.from_bboxes(lo, hi, cell_m=4.0)
    for _ in range(300):
        q_lo = rng.uniform([-70, -70, -3], [70, 70, 3])
        q_hi = q_lo + rng.uniform([0, 0, 0], [30, 30, 4])
        want = _faces_in_box(lo, hi, q_lo, q_hi)
        got = buckets.faces_in_box(q_lo, q_hi)
        assert got.dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(buckets.faces_in_box(lo[7], lo[7]), _faces_in_box(lo, hi, lo[7], lo[7]))  # touching


def test_bad_bounding_boxes_are_rejected():
    with pytest.raises(ValidationError, match="FaceBuckets"):
        FaceBuckets.from_bboxes(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValidationError, match="cell_m"):
        FaceBuckets.from_bboxes(np.zeros((1, 3)), np.ones((1, 3)), cell_m=0.0)


BLOCK = GridSpec("block", (-2.0, -3.2, -1.0), 0.4, (30, 12, 10), "ego")


@pytest.mark.parametrize("grid", [BLOCK, GridSpec.openocc_v1()])
def test_static_classes_within_cover_the_voxelised_classes(world, keyframe, grid):
    pose, time_us = keyframe
    for dx, dyaw in [(0.0, 0.0), (9.0, 0.3), (21.0, -1.2), (40.0, 2.5)]:
        moved = pose @ Pose.from_xy_yaw(dx, 0.5 * dx, dyaw)
        semantics = world.static_semantics(moved, time_us, grid)
        present = world.static_classes_within(moved, time_us, grid)
        assert present.shape == (OCC3D.num_classes,) and not present[OCC3D.free_index]
        assert present[np.unique(semantics[semantics != OCC3D.free_index])].all()


def test_a_block_on_the_road_holds_ground_classes_only(world, keyframe):
    """Around the ego on the road (sidewalks 2 m aside, the tree and the building farther), the faces
    near the block are road and sidewalk: a caller can tell that no obstacle lies there."""
    pose, time_us = keyframe
    present = world.static_classes_within(pose, time_us, BLOCK)
    assert present[OCC3D.index("driveable_surface")] and not (present & ~ground_table(OCC3D)).any()


def test_grid_world_box_bounds_the_moved_grid_corners():
    rng = np.random.default_rng(2)
    for grid in (GridSpec.occ3d_nuscenes(), BLOCK):
        for _ in range(20):
            pose = Pose.from_xy_yaw(*rng.uniform(-500, 500, 2), rng.uniform(-4, 4), rng.normal())
            corners = np.array(np.meshgrid(*zip(grid.range_min_m, grid.range_max_m), indexing="ij")).reshape(3, -1).T
            world = pose.transform_points(corners)
            lo, hi = grid_world_box(pose, grid)
            assert np.array_equal(lo, world.min(axis=0)) and np.array_equal(hi, world.max(axis=0))
