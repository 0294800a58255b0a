"""models.voxel_decode: the one-pass decode equals torch's argmax + zeroed flow, ties included."""

import numpy as np
import pytest
import torch

from models.voxel_decode import decode_voxels


def _reference(logits: np.ndarray, flow: np.ndarray, free: int) -> tuple[np.ndarray, np.ndarray]:
    sem = torch.from_numpy(logits).argmax(0).to(torch.uint8)
    fl = torch.from_numpy(flow).permute(1, 2, 3, 0)
    fl = torch.where((sem == free).unsqueeze(-1), torch.zeros_like(fl), fl)
    return sem.numpy(), fl.numpy()


@pytest.mark.parametrize("layout", ["contiguous", "strided", "channels_last_slice"])
def test_decode_equals_torch_argmax_with_ties(layout: str) -> None:
    rng = np.random.default_rng(0)
    # small integer logits: many ties, which must go to the lowest class index as in torch.argmax
    logits = rng.integers(0, 4, size=(18, 7, 5, 3)).astype(np.float32)
    logits[17, 0] = 9.0  # the free class wins the x = 0 slab
    flow = rng.normal(size=(2, 7, 5, 3)).astype(np.float32)
    if layout == "strided":  # a (Z, X, Y, C) buffer viewed as (C, X, Y, Z)
        logits = np.ascontiguousarray(logits.transpose(3, 1, 2, 0)).transpose(3, 1, 2, 0)
        assert not logits.flags.c_contiguous and logits.strides[0] == 4
    if layout == "channels_last_slice":  # classes and flow sliced from one (X, Y, Z, C + 2) head output
        both = np.ascontiguousarray(np.moveaxis(np.concatenate([logits, flow]), 0, -1))
        logits, flow = np.moveaxis(both[..., :18], -1, 0), np.moveaxis(both[..., 18:], -1, 0)
        assert logits.strides[0] == 4 and not logits.flags.c_contiguous
    sem, fl = decode_voxels(logits, flow, free_index=17)
    ref_sem, ref_fl = _reference(np.ascontiguousarray(logits), flow, 17)
    np.testing.assert_array_equal(sem, ref_sem)
    np.testing.assert_array_equal(fl, ref_fl)
    assert sem.dtype == np.uint8 and fl.shape == (7, 5, 3, 2) and fl.dtype == np.float32
    assert (fl[sem == 17] == 0).all() and (sem == 17).any()


def test_without_a_free_class_or_flow_only_the_argmax_is_returned() -> None:
    logits = np.random.default_rng(1).normal(size=(5, 4, 3, 2)).astype(np.float32)
    sem, fl = decode_voxels(logits, np.zeros((0, 4, 3, 2), np.float32), free_index=None)
    np.testing.assert_array_equal(sem, logits.argmax(0))
    assert fl.shape == (4, 3, 2, 0)


def test_decode_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="flow"):
        decode_voxels(np.zeros((3, 2, 2, 2), np.float32), np.zeros((2, 2, 2, 3), np.float32), 0)
