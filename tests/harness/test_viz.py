"""BEV rendering: top labels against a plain per-column reference, image layout, GIF round trip."""

from __future__ import annotations

import numpy as np
from PIL import Image

from occplan.types import AgentBox, GridSpec, LabelSet
from occplan.viz.bev import CLASS_COLORS, capture, render, save_gif, top_labels

GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()
FREE = LABELS.free_index


def test_top_labels_matches_reference():
    rng = np.random.default_rng(1)
    sem = np.where(rng.random((20, 30, 16)) < 0.1, rng.integers(0, FREE, (20, 30, 16)), FREE).astype(np.uint8)
    ref = np.full((20, 30), FREE, np.uint8)
    for i in range(20):
        for j in range(30):
            occ = np.flatnonzero(sem[i, j] != FREE)
            if len(occ):
                ref[i, j] = sem[i, j, occ[-1]]
    np.testing.assert_array_equal(top_labels(sem, FREE), ref)


def test_render_orientation_and_gif(tmp_path):
    sem = np.full(GRID.shape, FREE, np.uint8)
    sem[150, 101, 2] = LABELS.index("car")  # x = +20 m ahead, y = +0.4 m: above the ego, left of centre
    car = AgentBox(np.array([20.0, 0.0, 0.8]), np.array([1.8, 4.5, 1.6]), 0.0, np.zeros(2), "vehicle.car", "i0")
    plan = np.column_stack([np.arange(1, 7) * 2.0, np.zeros(6)])
    frame = capture(sem, sem, FREE, (car,), plan, plan[:4], "t=0")
    img = render(frame, GRID, LABELS, scale=2)
    assert img.shape == (16 + 400, 2 * 400 + 4, 3) and img.dtype == np.uint8
    # voxel (150, 101) -> image row (199 - 150) * 2 + header, col (199 - 101) * 2, in both panels
    assert tuple(img[16 + 49 * 2, 98 * 2]) == CLASS_COLORS["car"]
    assert tuple(img[16 + 49 * 2, 404 + 98 * 2]) == CLASS_COLORS["car"]
    assert tuple(img[16 + 10, 10]) == CLASS_COLORS["free"]
    path = save_gif([img, img[:, ::-1].copy()], tmp_path / "bev.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 2 and gif.size == (img.shape[1], img.shape[0])
