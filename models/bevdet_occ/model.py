"""The ``bevdet_occ`` perception plugin (BEVDet-occ, the base of the BEVDet / FlashOcc / UniOcc occupancy
models): six cameras -> Occ3D 200x200x16 semantics + flow.

Parts (``net.BevDetOccNet``): ResNet + FPN-LSS image encoder (``models.lss.image_encoder``); LSS view
transformer with a categorical depth distribution per feature pixel lifted into a voxel volume by
precomputed-index pooling (``models.lss``); 3D ResNet + FPN voxel encoder and 3D convolutional occupancy
head (``voxel_encoder``). Training adds LiDAR depth supervision (BEVDepth) on the depth distribution.

``tiny`` lifts into a 100x100x8 volume (0.8 m voxels) and upsamples x2 to the 200x200x16 Occ3D grid with a
transposed 3D convolution in the head; ``base`` (paper scale: 704x256 input, ResNet-18-like backbone,
1-45 m depth at 0.5 m) lifts directly into 200x200x16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.bevdet_occ.net import BevDetOccNet
from models.lss.camera_model import LSS_BASE_FIELDS, LssConfig, LssOccModel
from models.lss.pool import PoolGrid
from occplan.errors import ValidationError


@dataclass(frozen=True)
class BevDetOccConfig(LssConfig):
    """The ``LssConfig`` fields, and: the LSS volume is the Occ3D grid divided by ``up_factor`` in x, y and z with
    ``voxel_channels[0]`` context channels (``voxel_channels[1]`` at the encoder's half-resolution level); the
    head upsamples to ``up_channels``."""

    voxel_channels: tuple[int, int] = (16, 32)
    up_factor: int = 2
    up_channels: int = 8


BEVDET_OCC_PRESETS = {
    "tiny": BevDetOccConfig(),
    "base": BevDetOccConfig(**LSS_BASE_FIELDS, voxel_channels=(32, 64), up_factor=1),
}


class BevDetOccModel(LssOccModel):
    """Multi-camera occupancy: LSS lifting into a voxel volume, 3D convolutional occupancy head."""

    name = "bevdet_occ"
    presets = BEVDET_OCC_PRESETS
    config_cls = BevDetOccConfig

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        f = cfg.up_factor
        if any(s % (2 * f) for s in self.grid.shape):
            raise ValidationError(f"BevDetOccConfig: up_factor {f} x 2 must divide the grid {self.grid.shape}")
        self.feature_hw  # noqa: B018 (validates image_wh_px against the backbone)
        volume = PoolGrid(self.grid.range_min_m, self.grid.range_max_m, tuple(s // f for s in self.grid.shape))
        return BevDetOccNet(
            cfg.backbone_widths,
            cfg.backbone_blocks,
            cfg.neck_channels,
            self.depth_bins,
            volume,
            cfg.voxel_channels,
            f,
            cfg.up_channels,
            self.labels.num_classes,
        )
