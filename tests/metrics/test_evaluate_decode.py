"""The evaluator's own decoding: npz members inflated in one call give ``np.load``'s arrays (stored
and deflated, C and Fortran order, every dtype the files use), bad archives name the file; the
keyframe listing read from the tables gives the ``Scenario`` frames' tokens, poses and files."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from occplan.data import NuScenesSource
from occplan.errors import DataError
from occplan.evaluate import npz_arrays, scene_keyframes


def _archive(save, **arrays) -> bytes:
    buf = io.BytesIO()
    save(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_members_equal_np_load(tmp_path, save):
    rng = np.random.default_rng(0)
    arrays = {
        "semantics": rng.integers(0, 18, (20, 20, 16), dtype=np.uint8),
        "mask": rng.integers(0, 2, (20, 20, 16)).astype(bool),
        "flow": np.asfortranarray(rng.normal(size=(20, 20, 16, 2)).astype(np.float32)),
        "flow64": rng.normal(size=(3, 2)),
        "empty": np.zeros((0, 4), np.int64),
        "scalar": np.array(7, np.int32),
    }
    data = _archive(save, **arrays)
    got = npz_arrays(
        data, tmp_path / "x.npz", ("semantics", "mask", "flow"), optional=("flow64", "empty", "scalar", "no")
    )
    assert set(got) == set(arrays)
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        for k, a in got.items():
            assert a.dtype == z[k].dtype and a.shape == z[k].shape and np.array_equal(a, z[k]), k


def test_bad_archives_name_the_file(tmp_path):
    path = tmp_path / "p.npz"
    data = _archive(np.savez_compressed, pred=np.zeros((8, 8, 8), np.uint8))
    with pytest.raises(DataError, match=r"p.npz: missing field\(s\) \['flow'\]; has \['pred'\]"):
        npz_arrays(data, path, ("flow",))
    with pytest.raises(DataError, match=r"p.npz: corrupt or truncated npz"):
        npz_arrays(data[: len(data) // 2], path, ("pred",))
    with pytest.raises(DataError, match=r"p.npz: corrupt or truncated npz"):
        npz_arrays(b"not a zip file", path, ("pred",))
    name_len, extra_len = struct.unpack_from("<HH", data, 26)  # the only member starts the archive
    start = 30 + name_len + extra_len  # first byte of its deflate stream: block type 11 is reserved
    bad = data[:start] + bytes([data[start] | 0b110]) + data[start + 1 :]
    with pytest.raises(DataError, match=r"p.npz: corrupt or truncated npz member pred.npy"):
        npz_arrays(bad, path, ("pred",))
    stored = _archive(np.savez, pred=np.zeros((8, 8, 8), np.uint8))  # a flipped data byte reads cleanly
    flipped = bytearray(stored)
    flipped[start + 200] ^= 1  # within the 512 voxel bytes after the .npy header of the stored member
    with pytest.raises(DataError, match=r"p.npz: corrupt or truncated npz member pred.npy .*CRC-32"):
        npz_arrays(bytes(flipped), path, ("pred",))
    objects = _archive(np.savez, pred=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"p.npz: corrupt or truncated npz member pred.npy .*allow_pickle"):
        npz_arrays(objects, path, ("pred",))


def test_keyframes_from_tables_equal_the_scenario_frames(tiny_dataroot):
    source = NuScenesSource(tiny_dataroot, "v1.0-occplan")
    for name in source.scene_names():
        token, keyframes = scene_keyframes(source, name)
        scenario = source.scenario(name)
        assert token == scenario.token and len(keyframes) == len(scenario.frames)
        for k, f in zip(keyframes, scenario.frames, strict=True):
            assert (k.scene_name, k.sample_token, k.time_us) == (f.scene_name, f.sample_token, f.time_us)
            assert (k.lidar_token, k.lidar_path) == (f.lidar_token, f.lidar_path)
            for a, b in ((k.world_from_ego, f.world_from_ego), (k.ego_from_lidar, f.ego_from_lidar)):
                assert np.array_equal(a.matrix, b.matrix)
