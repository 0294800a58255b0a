"""The geometric label fallback of reconstructed worlds (logs without lidarseg)."""

from __future__ import annotations

import numpy as np

from occplan.types import LabelSet
from occplan.world.static_points import ground_fallback_labels

GENERAL = LabelSet.lidarseg_general()
ROAD, MANMADE = GENERAL.index("flat.driveable_surface"), GENERAL.index("static.manmade")


def test_a_sloped_road_is_road_and_a_wall_on_it_is_not():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-30, 30, (20_000, 2))
    road = np.column_stack([xy, 0.08 * xy[:, 0]])  # an 8 % slope: 4.8 m of height over the scene
    wall = np.column_stack([np.full(300, 10.0), rng.uniform(-2, 2, 300), 0.8 + rng.uniform(0.3, 1.5, 300)])
    labels = ground_fallback_labels(np.vstack([road, wall]), 2.0, 0.3)
    assert np.all(labels[: len(road)] == ROAD)
    assert np.all(labels[len(road) :] == MANMADE)
