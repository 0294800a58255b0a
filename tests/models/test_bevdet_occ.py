"""bevdet_occ: the LSS voxel volume, lifting from one camera stays in its view, LiDAR depth targets through the
model's own image size and stride, the head's upsampling to the Occ3D grid."""

from __future__ import annotations

import numpy as np
import synthetic_scene as synth
import torch

from models.bevdet_occ.model import BEVDET_OCC_PRESETS, BevDetOccModel
from models.lss.depth import NO_DEPTH


def test_volume_and_output_shapes():
    tiny = BevDetOccModel(BEVDET_OCC_PRESETS["tiny"])
    assert tiny.net.view_transformer.grid.shape == (100, 100, 8)  # 0.8 m voxels, upsampled x2 by the head
    assert BevDetOccModel(BEVDET_OCC_PRESETS["base"]).net.view_transformer.grid.shape == (200, 200, 16)
    frame = synth.sensor_frame(seed=2)
    with torch.no_grad():
        out = tiny.forward(tiny.collate([tiny.encode(frame)]))
    assert out["sem_logits"].shape == (1, 18, 200, 200, 16) and out["flow"].shape == (1, 2, 200, 200, 16)
    assert out["depth_logits"].shape == (1, 6, 44, *tiny.feature_hw)


def test_features_of_the_front_camera_land_in_front_of_it():
    """Only CAM_FRONT (at (1.5, 0, 1.5) m, looking along ego x, horizontal field of view 2 atan(80 / 100)) has
    non-zero features: every voxel that receives mass lies ahead of it, inside its field of view."""
    model = BevDetOccModel(BEVDET_OCC_PRESETS["tiny"])
    vt = model.net.view_transformer.eval()
    with torch.no_grad():
        vt.depth_net[1].bias.zero_()  # zero features -> zero context (eval BatchNorm at init is the identity)
        batch = model.collate([model.encode(synth.sensor_frame(seed=2))])
        hf, wf = model.feature_hw
        feats = torch.zeros(1, 6, 64, hf, wf)
        feats[0, 0] = torch.rand(64, hf, wf) + 0.1
        volume, _ = vt(feats, batch["img_from_ego"])
    mass = volume[0].abs().sum(0)  # (100, 100, 8)
    cells = torch.nonzero(mass > 0).numpy()
    assert len(cells) > 100
    centres = np.array([-40.0, -40.0, -1.0]) + (cells + 0.5) * 0.8
    ahead_m = centres[:, 0] - 1.5
    assert (ahead_m > -0.8).all()
    assert (np.abs(centres[:, 1]) <= ahead_m * 80 / 100 + 0.8 * 1.5).all()


def test_depth_targets_see_the_car_ahead_at_its_distance():
    """The synthetic car spans x 8-12 m; the front camera (x 1.5 m, focal 100 px at 160 x 90, scaled x1.6 to
    256 x 144) sees its centre (10, 0, 0.8) at u = 80 * 1.6 = 128, v = (100 * 0.7 / 8.5 + 45) * 1.6 = 85.2:
    feature cell (10, 16) at stride 8. The nearest points there are on the car's front (depth 6.5 m): bin
    floor(6.5 - 1) = 5, or 6 for a point up to 1 m deeper."""
    model = BevDetOccModel(BEVDET_OCC_PRESETS["tiny"])
    frame = synth.sensor_frame(seed=1)
    depth = model.targets(frame, synth.ground_truth(), None)["depth"]
    assert depth.shape == (6, 18, 32) and model.feature_stride == 8
    assert int(depth[0, 10, 16]) in (5, 6)
    assert int((depth != NO_DEPTH).sum()) > 200
    assert int(depth.max()) < 44
