"""The ``flashocc`` perception plugin (FlashOcc, Yu et al. 2023): six cameras -> Occ3D 200x200x16 semantics +
flow with no 3D convolution, for speed.

Parts (``net.FlashOccNet``): the ResNet + FPN-LSS image encoder and LSS view transformer of ``models.lss``
(BEVDet's lifting, LiDAR depth supervision in training) pooling into BEV pillars only; a 2D residual BEV
encoder (``bev_encoder``); the Channel-to-Height head (``head``): a per-pillar predictor's Z * (K + 2)
channels reshaped to Z height bins of K class logits + 2 flow components.

``tiny`` lifts into a 100x100 BEV (0.8 m pillars) and upsamples x2 to 200x200 in the BEV encoder;
``base`` (paper scale: 704x256 input, ResNet-18-like backbone, 1-45 m depth at 0.5 m) lifts into 200x200.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.flashocc.net import FlashOccNet
from models.lss.camera_model import LSS_BASE_FIELDS, LssConfig, LssOccModel
from models.lss.pool import PoolGrid
from occplan.errors import ValidationError


@dataclass(frozen=True)
class FlashOccConfig(LssConfig):
    """The ``LssConfig`` fields, and: the LSS BEV is the Occ3D X, Y divided by ``up_factor``; ``bev_channels`` =
    (LSS context channels, half-resolution level channels, BEV encoder output channels, the input of the
    Channel-to-Height head)."""

    bev_channels: tuple[int, int, int] = (32, 64, 32)
    up_factor: int = 2


FLASHOCC_PRESETS = {
    "tiny": FlashOccConfig(),
    "base": FlashOccConfig(**LSS_BASE_FIELDS, bev_channels=(64, 128, 256), up_factor=1),
}


class FlashOccModel(LssOccModel):
    """Multi-camera occupancy: LSS lifting into BEV, 2D BEV encoder, Channel-to-Height head."""

    name = "flashocc"
    presets = FLASHOCC_PRESETS
    config_cls = FlashOccConfig

    def build_net(self) -> torch.nn.Module:
        cfg = self.config
        f = cfg.up_factor
        nx, ny, nz = self.grid.shape
        if nx % (2 * f) or ny % (2 * f):
            raise ValidationError(f"FlashOccConfig: up_factor {f} x 2 must divide the grid's X, Y {(nx, ny)}")
        self.feature_hw  # noqa: B018 (validates image_wh_px against the backbone)
        bev = PoolGrid(self.grid.range_min_m, self.grid.range_max_m, (nx // f, ny // f))
        return FlashOccNet(
            cfg.backbone_widths,
            cfg.backbone_blocks,
            cfg.neck_channels,
            self.depth_bins,
            bev,
            cfg.bev_channels,
            f,
            nz,
            self.labels.num_classes,
        )
