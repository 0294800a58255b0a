"""renderocc: volume-rendering weights for hand-set densities, ray samples in the expected voxels, one opaque
voxel rendered to its entry depth and class, 2D ray labels from the semantic images, termination targets,
auxiliary rays moved by the ego motion, and training that reads no 3D occupancy label."""

from __future__ import annotations

import math

import numpy as np
import pytest
import synthetic_scene as synth
import torch
from PIL import Image

from models.losses import IGNORE
from models.lss.depth import NO_DEPTH
from models.lss.geometry import DepthBins
from models.lss.pool import PoolGrid
from models.renderocc.labels import general_to_occ3d, ray_pixel_labels, without_movable
from models.renderocc.model import RENDEROCC_PRESETS, RenderOccModel, termination_probability
from models.renderocc.rays import ray_samples
from models.renderocc.render import render, render_weights
from models.renderocc.targets import termination_targets
from occplan.types import CameraFrame, GridSpec, LabelSet, Pose

GRID = GridSpec.occ3d_nuscenes()
POOL = PoolGrid(GRID.range_min_m, GRID.range_max_m, GRID.shape)
CAM_TO_EGO_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # camera x right, y down, z fwd
CAM_XYZ_M = np.array([0.0, 0.2, 0.4])  # centre of voxel (100, 100, 3) in y and z
"""A camera at ego (0, 0.2, 0.4) m looking along ego +x: its central ray runs along the row of voxels
j = 100 ([0, 0.4) m in y), k = 3 ([0.2, 0.6) m in z)."""


def front_projection(focal_px: float = 1.0, centre_px: float = 0.5) -> torch.Tensor:
    """(1, 3, 4) img_from_ego of the camera above; pixel (0.5, 0.5) (ray cell (0, 0) at stride 1) is its
    principal point."""
    k = np.array([[focal_px, 0.0, centre_px], [0.0, focal_px, centre_px], [0.0, 0.0, 1.0]])
    cam_from_ego = Pose(CAM_TO_EGO_AXES, CAM_XYZ_M).inverse().matrix[:3]
    return torch.from_numpy((k @ cam_from_ego)[None].astype(np.float32))


def test_render_weights_by_hand():
    # two half-transparent steps: alpha = 1 - exp(-ln2) = 0.5 each -> weights 0.5, 0.25; 0.25 passes through
    w, bg = render_weights(torch.tensor([[math.log(2) / 0.5, math.log(2) / 0.5]]), torch.tensor([0.5]))
    np.testing.assert_allclose(w.numpy(), [[0.5, 0.25]], atol=1e-6)
    np.testing.assert_allclose(bg.numpy(), [0.25], atol=1e-6)
    # free, free, opaque, free: all weight on the opaque sample, nothing behind it
    w, bg = render_weights(torch.tensor([0.0, 0.0, 1e4, 0.0]), torch.tensor(0.4))
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0, 1.0, 0.0], atol=1e-6)
    assert float(bg) == pytest.approx(0.0, abs=1e-6)
    # an empty ray leaves everything to the background
    w, bg = render_weights(torch.zeros(1, 5), torch.tensor([0.3]))
    assert float(w.sum()) == 0.0 and float(bg[0]) == 1.0


def test_ray_samples_land_in_the_voxels_along_the_ray():
    bins = DepthBins(0.5, 60.5, 0.4)
    rays = ray_samples(front_projection(), (1, 1), 1, bins, POOL)
    assert rays.cell.shape == (1, 1, bins.num) and rays.delta_m.shape == (1, 1)
    assert float(rays.delta_m[0, 0]) == pytest.approx(0.4, abs=1e-5)  # the central ray: camera depth = metres
    depth = 0.5 + (np.arange(bins.num) + 0.5) * 0.4  # sample k at x = depth_k in the ego frame
    i = np.floor((depth + 40.0) / 0.4).astype(np.int64)
    expected = np.where(depth < 40.0, (i * 200 + 100) * 16 + 3, -1)
    np.testing.assert_array_equal(rays.cell[0, 0].numpy(), expected)
    # an oblique ray (pixel one focal length right of and below the centre) steps sqrt(3) times as far per
    # depth step
    oblique = ray_samples(front_projection(centre_px=-0.5), (1, 1), 1, bins, POOL)
    assert float(oblique.delta_m[0, 0]) == pytest.approx(0.4 * math.sqrt(3.0), rel=1e-5)


def test_one_opaque_voxel_renders_its_entry_depth_and_class():
    """Voxel (110, 100, 3) spans x in [4.0, 4.4) m; samples every 0.1 m of depth from 0.55 m: the first inside is
    at 4.05 m, which takes all the weight; the rendered class is the voxel's."""
    bins = DepthBins(0.5, 60.5, 0.1)
    density = torch.zeros(1, *GRID.shape)
    density[0, 110, 100, 3] = 1e4
    logits = torch.zeros(1, 17, *GRID.shape)
    logits[0, 4, 110, 100, 3] = 10.0  # car
    logits[0, 11, 100:110, 100, 3] = 10.0  # driveable_surface in front of it (but free: no density)
    out = render(density, logits, [ray_samples(front_projection(), (1, 1), 1, bins, POOL)], far_m=60.5)
    assert float(out.depth_m[0, 0, 0]) == pytest.approx(4.05, abs=1e-4)
    k = int(np.argmax(out.weights[0, 0, 0].numpy()))
    assert float(bins.centers_m()[k]) == pytest.approx(4.05, abs=1e-5) and float(out.weights[0, 0, 0, k]) > 0.999
    assert int(out.class_probs[0, 0, 0].argmax()) == 4 and float(out.background[0, 0, 0]) < 1e-6
    empty = render(torch.zeros(1, *GRID.shape), logits, [ray_samples(front_projection(), (1, 1), 1, bins, POOL)], 60.5)
    assert float(empty.depth_m[0, 0, 0]) == pytest.approx(60.5) and float(empty.background[0, 0, 0]) == 1.0


def test_termination_probability_sums_the_window():
    w = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    bg = torch.tensor([0.05])
    for target, window, expected in [(1, 1, 0.6), (0, 1, 0.3), (3, 0, 0.4), (3, 2, 0.9), (4, 1, 0.05)]:
        p = termination_probability(w, bg, torch.tensor([target]), window)
        assert float(p[0]) == pytest.approx(expected), (target, window)


def test_termination_targets_from_lidar_points():
    """Sample k covers depths [0.5 + 0.4 k, 0.9 + 0.4 k); a point beyond the grid (x = 45 m) or a sky pixel ends
    in the background slot S; no point, no target."""
    bins = DepthBins(0.5, 60.5, 0.4)
    proj = front_projection().numpy()
    s = bins.num
    on_axis = lambda x: np.array([[x, 0.2, 0.4]])  # noqa: E731
    assert termination_targets(on_axis(10.3), proj, np.array([[4]]), (1, 1), 1, bins, POOL, 17)[0, 0] == 24
    assert termination_targets(on_axis(45.0), proj, np.array([[14]]), (1, 1), 1, bins, POOL, 17)[0, 0] == s
    assert termination_targets(np.zeros((0, 3)), proj, np.array([[4]]), (1, 1), 1, bins, POOL, 17)[0, 0] == NO_DEPTH
    assert termination_targets(np.zeros((0, 3)), proj, np.array([[17]]), (1, 1), 1, bins, POOL, 17)[0, 0] == s


def test_general_classes_map_to_occ3d_with_sky_free():
    table = general_to_occ3d()
    occ3d = LabelSet.occ3d()
    assert table[0] == occ3d.free_index  # sky
    assert table[17] == occ3d.index("car") and table[24] == occ3d.index("driveable_surface")
    assert table[31] == IGNORE  # vehicle.ego
    assert without_movable(np.array([occ3d.index("car"), occ3d.index("manmade")])).tolist() == [
        IGNORE,
        occ3d.index("manmade"),
    ]


def write_camera(root, channel: str, semantic: np.ndarray, ego_from_cam: Pose) -> CameraFrame:
    """A CameraFrame whose image path is ``root/samples/<channel>/x.jpg`` with its semantic PNG beside it."""
    (root / "semantic" / channel).mkdir(parents=True, exist_ok=True)
    Image.fromarray(semantic, mode="L").save(root / "semantic" / channel / "x.png")
    h, w = semantic.shape
    k = np.array([[w / 2, 0.0, w / 2], [0.0, w / 2, h / 2], [0.0, 0.0, 1.0]])
    return CameraFrame(channel, k, ego_from_cam, w, h, image_path=str(root / "samples" / channel / "x.jpg"))


def test_ray_labels_read_the_semantic_pixel_of_each_ray(tmp_path):
    """Network image 256 x 144, rays every 8 px: ray (r, c) reads semantic pixel
    (floor((8 r + 4) * 900 / 144), floor((8 c + 4) * 1600 / 256)) of a 1600 x 900 image."""
    sem = np.zeros((900, 1600), np.uint8)
    sem[:, 800:] = 17  # vehicle.car on the right half
    sem[450:, :800] = 24  # flat.driveable_surface bottom left; sky top left
    cam = write_camera(tmp_path, "CAM_FRONT", sem, Pose(CAM_TO_EGO_AXES, CAM_XYZ_M))
    labels = ray_pixel_labels(cam, (18, 32), 8, (256, 144), general_to_occ3d()).reshape(18, 32)
    rows = np.floor((8 * np.arange(18) + 4) * 900 / 144).astype(int)
    cols = np.floor((8 * np.arange(32) + 4) * 1600 / 256).astype(int)
    np.testing.assert_array_equal(labels, general_to_occ3d()[sem[rows[:, None], cols[None, :]]])
    assert set(np.unique(labels)) == {4, 11, 17}


def test_auxiliary_rays_project_the_previous_cameras_from_this_ego_frame(tmp_path):
    """The ego moved 2 m forward: a point 3 m ahead now was 5 m ahead at the previous keyframe, so the auxiliary
    projection of (3, 0, 0) equals the previous projection of (5, 0, 0); movable classes are ignored; a missing
    history keyframe contributes rays without labels."""
    model = RenderOccModel(RENDEROCC_PRESETS["tiny"])
    sem = np.full((90, 160), 17, np.uint8)
    sem[:45] = 28  # static.manmade on top, cars below
    cams = tuple(
        write_camera(tmp_path, ch, sem, Pose.from_xy_yaw(0.0, 0.0, yaw) @ Pose(CAM_TO_EGO_AXES, CAM_XYZ_M))
        for ch, yaw in zip(model.cameras, np.linspace(0.0, 5.0, 6), strict=True)
    )
    prev_proj = torch.rand(6, 3, 4)
    prev = {"img_from_ego": prev_proj, "world_from_ego": torch.eye(4, dtype=torch.float64), "cameras": cams}
    cur_world = torch.eye(4, dtype=torch.float64)
    cur_world[0, 3] = 2.0
    sample = {"img_from_ego": torch.rand(6, 3, 4), "world_from_ego": cur_world, "history": [prev]}
    projs, labels = model.auxiliary_rays(sample)  # two keyframes of history: the older one is missing
    assert projs.shape == (12, 3, 4) and labels.shape == (12, 18 * 32)
    np.testing.assert_allclose(
        (projs[6:] @ torch.tensor([3.0, 0.0, 0.0, 1.0])).numpy(),
        (prev_proj @ torch.tensor([5.0, 0.0, 0.0, 1.0])).numpy(),
        rtol=1e-5,
    )
    assert set(labels[6:].unique().tolist()) == {IGNORE, 15}  # manmade; the cars are ignored
    assert torch.equal(projs[:6], sample["img_from_ego"]) and bool((labels[:6] == IGNORE).all())
    both, both_labels = model.auxiliary_rays({**sample, "history": [prev, prev]})
    assert torch.equal(both[:6], both[6:]) and torch.equal(both_labels[:6], both_labels[6:])


class NoOccupancy:
    """Stands in for the GT OccupancyFrame: any access to it fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"renderocc read the 3D occupancy label ({name})")


def test_targets_read_no_occupancy_and_hold_no_3d_tensor():
    model = RenderOccModel(RENDEROCC_PRESETS["tiny"])
    frame = synth.sensor_frame(seed=1)
    targets = model.targets(frame, NoOccupancy(), synth.lidarseg(frame))
    assert set(targets) == {"ray_labels", "termination", "depth"}
    n, r = 6, 18 * 32
    assert targets["ray_labels"].shape == (n, r) and targets["termination"].shape == (n, r)
    assert targets["depth"].shape == (n, *model.feature_hw)
    assert int((targets["ray_labels"] != IGNORE).sum()) > 100  # projected lidarseg labels (no semantic images)


def test_training_reads_no_3d_label(tiny_dataroot, tmp_path, monkeypatch):
    """Two iterations of models.train on the tiny dataroot while every occupancy GT is poisoned and the 3D label
    counts are forbidden: the class weights come from the semantic images."""
    import models.train as train_module
    from models.dataset import OccDataset
    from models.evaluate import open_source

    def forbidden(*args, **kwargs):
        raise AssertionError("renderocc class weights read the 3D labels")

    monkeypatch.setattr(train_module, "label_counts", forbidden)
    source = open_source(tiny_dataroot)
    monkeypatch.setattr(source, "occupancy", lambda frame: NoOccupancy())
    model = RenderOccModel(RENDEROCC_PRESETS["tiny"])
    dataset = OccDataset(source, "train", model, max_frames=2)
    cfg = train_module.TrainConfig(iters=2, workers=0, ckpt_every=2)
    meta = train_module.train(model, dataset, cfg, tmp_path / "renderocc_tiny", resume=False)
    assert meta["step"] == 2 and all(np.isfinite(meta["loss_history"]))
    weights = np.array(meta["class_weights"])
    assert weights.shape == (18,) and not np.allclose(weights, 1.0)  # from the 2D label counts
