"""flashocc: no 3D convolution anywhere, Channel-to-Height reshape order, head wiring, BEV-only lifting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.flashocc.head import ChannelToHeightHead, channel_to_height
from models.flashocc.model import FLASHOCC_PRESETS, FlashOccModel


@pytest.mark.parametrize("preset", ["tiny", "base"])
def test_no_3d_convolution_in_the_module_tree(preset):
    net = FlashOccModel(FLASHOCC_PRESETS[preset]).net
    kinds = {type(m) for m in net.modules()}
    assert not kinds & {nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d, nn.MaxPool3d, nn.AvgPool3d}
    assert nn.Conv2d in kinds


def test_lifting_is_into_bev_pillars():
    model = FlashOccModel(FLASHOCC_PRESETS["tiny"])
    grid = model.net.view_transformer.grid
    assert grid.shape == (100, 100)  # tiny: 0.8 m pillars, every height of the Occ3D range
    assert grid.range_min_m == model.grid.range_min_m and grid.range_max_m == model.grid.range_max_m


@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_to_height_order(channels_last):
    z, c, x, y = 4, 3, 2, 5
    bev = torch.zeros(1, z * c, x, y)
    for zi in range(z):
        for k in range(c):
            bev[0, zi * c + k] = 100 * zi + k  # channel z * c + k
    bev[0, :, 1, 4] += 1000  # one pillar marked
    if channels_last:
        bev = bev.contiguous(memory_format=torch.channels_last)
    out = channel_to_height(bev, z)
    assert out.shape == (1, c, x, y, z)
    zz, kk = np.meshgrid(np.arange(z), np.arange(c))  # (c, z)
    np.testing.assert_array_equal(out[0, :, 0, 0].numpy(), 100 * zz + kk)
    np.testing.assert_array_equal(out[0, :, 1, 4].numpy(), 100 * zz + kk + 1000)
    if channels_last:
        assert out.data_ptr() == bev.data_ptr()  # a view: nothing copied
    with pytest.raises(ValueError, match="not a multiple of 5 heights"):
        channel_to_height(bev, 5)


def test_head_puts_predictor_channel_z_times_k_plus_2_at_height_z():
    num_heights, num_classes = 4, 3
    head = ChannelToHeightHead(6, num_heights, num_classes).eval()
    with torch.no_grad():
        head.predictor.weight.zero_()
        head.predictor.bias.copy_(torch.arange(num_heights * (num_classes + 2), dtype=torch.float32))
        sem, flow = head(torch.randn(2, 6, 3, 3))
    assert sem.shape == (2, num_classes, 3, 3, num_heights) and flow.shape == (2, 2, 3, 3, num_heights)
    for zi in range(num_heights):
        np.testing.assert_array_equal(sem[1, :, 2, 0, zi].numpy(), zi * 5 + np.arange(3))
        np.testing.assert_array_equal(flow[0, :, 1, 1, zi].numpy(), zi * 5 + np.array([3, 4]))
