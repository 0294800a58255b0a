"""bevformer_occ: ego-motion alignment of the previous BEV, temporal memory across frames (reset, order,
determinism), and the training history path (dataset hook, agreement with inference)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import synthetic_scene as synth
import torch

import models
from models.bevformer_occ.model import prev_from_cur
from models.bevformer_occ.temporal import align_previous_bev
from occplan.types import GridSpec, Pose

GRID = GridSpec.occ3d_nuscenes()
NB = 50  # BEV cells per side in these tests: 80 m / 50 = 1.6 m cells
CELL_M = (GRID.range_max_m[0] - GRID.range_min_m[0]) / NB
SMALL = {  # a small network: the mechanism, not the capacity, is under test
    "image_wh_px": [128, 72],
    "backbone_widths": [8, 16],
    "backbone_blocks": [1, 1],
    "dim": 16,
    "bev_size": NB,
    "up_channels": [8, 8],
    "height_channels": 4,
}


def _align(prev: torch.Tensor, world_from_prev: Pose, world_from_cur: Pose) -> torch.Tensor:
    rel = prev_from_cur(world_from_prev.matrix, world_from_cur.matrix)[None]
    return align_previous_bev(prev, rel, GRID.range_min_m, GRID.range_max_m)


def test_ego_moving_two_cells_forward_shifts_the_bev_two_cells_back():
    prev = torch.randn(1, 3, NB, NB)
    world_from_prev = Pose.from_xy_yaw(412.0, -87.5, 0.7)
    world_from_cur = world_from_prev @ Pose.from_xy_yaw(2 * CELL_M, 0.0, 0.0)  # 2 cells ahead along ego x
    aligned = _align(prev, world_from_prev, world_from_cur)
    # a static feature at previous cell (i, j) is at current cell (i - 2, j)
    torch.testing.assert_close(aligned[:, :, : NB - 2], prev[:, :, 2:], atol=1e-4, rtol=0)
    assert torch.all(aligned[:, :, NB - 2 :] == 0)  # ahead of the previous grid: nothing seen


def test_ego_moving_one_cell_left_shifts_the_bev_one_cell_right():
    prev = torch.randn(1, 2, NB, NB)
    world_from_prev = Pose.from_xy_yaw(-30.0, 12.0, -2.1)
    world_from_cur = world_from_prev @ Pose.from_xy_yaw(0.0, CELL_M, 0.0)
    aligned = _align(prev, world_from_prev, world_from_cur)
    torch.testing.assert_close(aligned[:, :, :, : NB - 1], prev[:, :, :, 1:], atol=1e-4, rtol=0)
    assert torch.all(aligned[:, :, :, NB - 1] == 0)


def test_ego_turning_left_90_degrees_rotates_the_bev():
    prev = torch.randn(1, 2, NB, NB)
    world_from_prev = Pose.from_xy_yaw(5.0, 5.0, 0.3)
    world_from_cur = world_from_prev @ Pose.from_xy_yaw(0.0, 0.0, np.pi / 2)
    aligned = _align(prev, world_from_prev, world_from_cur)
    # current (x, y) is previous (-y, x): current cell (i, j) holds previous cell (NB - 1 - j, i)
    i, j = torch.meshgrid(torch.arange(NB), torch.arange(NB), indexing="ij")
    torch.testing.assert_close(aligned[0], prev[0][:, NB - 1 - j, i], atol=1e-4, rtol=0)


def test_no_ego_motion_keeps_the_bev():
    prev = torch.randn(2, 4, NB, NB)
    pose = Pose.from_xy_yaw(1000.0, -2000.0, 1.0)
    rel = prev_from_cur(pose.matrix, pose.matrix)[None].expand(2, 4, 4)
    torch.testing.assert_close(
        align_previous_bev(prev, rel, GRID.range_min_m, GRID.range_max_m), prev, atol=1e-4, rtol=0
    )


def _frames(scene: str, seeds: tuple[int, ...]) -> list:
    """Synthetic frames of ``scene`` 0.5 s apart, the ego driving 4 m forward per frame."""
    out = []
    for k, seed in enumerate(seeds):
        f = synth.sensor_frame(seed=seed)
        out.append(
            replace(
                f,
                scene_name=scene,
                sample_token=f"{scene}_{k}",
                time_us=1_000_000 + 500_000 * k,
                world_from_ego=Pose.from_xy_yaw(100.0 + 4.0 * k, 50.0, 0.2),
            )
        )
    return out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return models.create("bevformer_occ", config=SMALL, weights="random")


def _run(model, frames) -> list[tuple[np.ndarray, torch.Tensor]]:
    out = []
    for f in frames:
        pred = model.predict(f)
        out.append((pred.semantics, model.memory.bev.clone()))
    return out


def test_reset_clears_the_previous_bev(model):
    a, b = _frames("scene_a", (1, 2)), _frames("scene_b", (3, 4))
    model.reset("scene_a")
    _run(model, a)
    model.reset("scene_b")
    after_other_scene = _run(model, b[:1])[0]
    assert model.memory.before is None
    model.reset("scene_b")
    from_fresh = _run(model, b[:1])[0]
    np.testing.assert_array_equal(after_other_scene[0], from_fresh[0])
    torch.testing.assert_close(after_other_scene[1], from_fresh[1], rtol=0, atol=0)


def test_frames_in_order_change_the_output_and_runs_from_reset_repeat(model):
    frames = _frames("scene_c", (5, 6, 7))
    model.reset("scene_c")
    first = _run(model, frames)
    model.reset("scene_c")
    second = _run(model, frames)
    for (sem_a, bev_a), (sem_b, bev_b) in zip(first, second):
        np.testing.assert_array_equal(sem_a, sem_b)
        torch.testing.assert_close(bev_a, bev_b, rtol=0, atol=0)
    model.reset("scene_c")
    alone = _run(model, frames[2:])[0]  # the last frame without its history
    assert (alone[1] - first[2][1]).abs().max() > 1e-3


def test_repeating_a_frame_reuses_its_history(model):
    frames = _frames("scene_d", (8, 9))
    model.reset("scene_d")
    once = _run(model, frames)[1]
    again = _run(model, frames[1:])[0]
    torch.testing.assert_close(once[1], again[1], rtol=0, atol=0)


def test_training_history_path_matches_inference(model):
    """The net fed the previous keyframe's images (training) gives the BEV that inference gets by
    predicting the previous frame, then the current one."""
    prev, cur = _frames("scene_e", (10, 11))
    model.reset("scene_e")
    _run(model, [prev, cur])
    batch = model.collate([{**model.encode(cur), "history": [model.encode(prev)]}])
    assert batch["has_prev"].tolist() == [True]
    with torch.no_grad():
        out = model.forward(batch)
    torch.testing.assert_close(out["bev"], model.memory.bev, atol=1e-4, rtol=0)


def test_dataset_gives_the_previous_keyframe_of_the_scene(tiny_dataroot):
    from models.dataset import OccDataset
    from models.evaluate import open_source

    source = open_source(tiny_dataroot)
    model = models.create("bevformer_occ", config=SMALL, weights="random")
    ds = OccDataset(source, "train", model, max_frames=2)
    assert ds.frames[0].index == 0 and ds.frames[1].index == 1
    first, _ = ds[0]
    second, _ = ds[1]
    assert first["history"] == []
    assert len(second["history"]) == 1
    torch.testing.assert_close(second["history"][0]["images"], first["images"])
    batch, _ = ds.collate([ds[1], ds[0]])
    assert batch["has_prev"].tolist() == [True, False]
    expected = (ds.frames[0].world_from_ego.inverse() @ ds.frames[1].world_from_ego).matrix
    np.testing.assert_allclose(batch["prev_from_cur"][0].numpy(), expected, atol=1e-4)
