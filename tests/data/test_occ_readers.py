"""Occupancy GT readers: the real Occ3D sample, synthetic files of every format, corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from occplan.data import (
    OccFormat,
    read_occ3d,
    read_occupancy,
    read_openocc_v2,
    read_openoccupancy,
    read_surroundocc,
)
from occplan.errors import DataError
from occplan.types import GridSpec, LabelSet, Pose

SHAPE = (200, 200, 16)


def test_occ3d_sample_counts(occ3d_sample_path: Path) -> None:
    """Counts of the CVPR2023 sample labels.npz (reference/occupancy-formats-and-metrics.md §1.2)."""
    occ = read_occ3d(occ3d_sample_path)
    values, counts = np.unique(occ.semantics, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {
        0: 169, 1: 82, 3: 974, 4: 1749, 6: 83, 11: 8433, 13: 2610, 14: 1007, 15: 5286, 16: 18699, 17: 600908,
    }  # fmt: skip
    assert occ.mask_lidar.dtype == np.bool_ and occ.mask_camera.dtype == np.bool_
    assert occ.mask_lidar.sum() == 56601 and occ.mask_camera.sum() == 43355
    assert not np.any(occ.mask_camera & ~occ.mask_lidar)
    assert np.count_nonzero(occ.semantics[occ.mask_camera] == 17) == 20491
    unobserved = occ.semantics[~occ.mask_lidar]
    values, counts = np.unique(unobserved[unobserved != 17], return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {11: 2500, 13: 258, 14: 222, 15: 1, 16: 1}
    assert np.all(np.nonzero(occ.semantics == 11)[2] == 0)
    assert occ.grid == GridSpec.occ3d_nuscenes() and occ.labels == LabelSet.occ3d() and occ.flow is None


def _occ3d_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "semantics": rng.integers(0, 18, SHAPE, dtype=np.uint8),
        "mask_lidar": rng.integers(0, 2, SHAPE, dtype=np.uint8),
        "mask_camera": rng.integers(0, 2, SHAPE, dtype=np.uint8),
    }


def test_occ3d_round_trip_with_flow(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {**_occ3d_arrays(rng), "flow": rng.normal(size=(*SHAPE, 2)).astype(np.float32)}
    np.savez_compressed(tmp_path / "labels.npz", **arrays)
    pose = Pose.from_xy_yaw(3.0, 4.0, 0.5)
    occ = read_occupancy(OccFormat.OCC3D, tmp_path / "labels.npz", pose, 123)
    np.testing.assert_array_equal(occ.semantics, arrays["semantics"])
    np.testing.assert_array_equal(occ.mask_camera, arrays["mask_camera"].astype(bool))
    np.testing.assert_array_equal(occ.flow, arrays["flow"])
    assert occ.world_from_grid is pose and occ.time_us == 123 and occ.source.endswith("labels.npz")


def test_openocc_v2_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sem = rng.integers(0, 17, SHAPE, dtype=np.uint8)
    flow = rng.normal(size=(*SHAPE, 2)).astype(np.float32)
    np.savez_compressed(tmp_path / "labels.npz", semantics=sem, flow=flow)
    occ = read_openocc_v2(tmp_path / "labels.npz")
    assert occ.labels == LabelSet.openocc_v2() and occ.mask_camera is None
    np.testing.assert_array_equal(occ.semantics, sem)
    # OpenOcc order differs from Occ3D: car is 0 in OpenOcc and 4 in Occ3D.
    assert occ.labels.table_to(LabelSet.occ3d())[0] == 4


def _openoccupancy_reference(zyx_cls: np.ndarray) -> np.ndarray:
    """Plain-Python majority vote per voxel (ties -> lowest label), as the reference loader decodes."""
    dense = np.zeros((512, 512, 40), dtype=np.uint8)
    votes: dict[tuple[int, int, int], list[int]] = {}
    for z, y, x, c in zyx_cls.astype(int):
        idx = (min(max(x, 0), 511), min(max(y, 0), 511), min(max(z, 0), 39))
        votes.setdefault(idx, []).append(255 if c == 0 else c)
    for idx, labels in votes.items():
        counts = np.bincount(labels, minlength=256)
        dense[idx] = int(np.argmax(counts))
    return dense


def test_openoccupancy_golden_and_reference(tmp_path: Path) -> None:
    golden = np.array(
        [[0, 1, 2, 4], [0, 1, 2, 4], [0, 1, 2, 7],  # majority 4
         [5, 6, 7, 9], [5, 6, 7, 3],  # tie -> 3
         [39, 511, 511, 0],  # noise -> 255
         [45, 600, -2, 16]],  # clipped to (0, 511, 39)
    )  # fmt: skip
    np.save(tmp_path / "golden.npy", golden)
    occ = read_openoccupancy(tmp_path / "golden.npy")
    assert occ.grid == GridSpec.openoccupancy() and occ.labels == LabelSet.openoccupancy()
    assert occ.semantics[2, 1, 0] == 4 and occ.semantics[7, 6, 5] == 3
    assert occ.semantics[511, 511, 39] == 255 and occ.semantics[0, 511, 39] == 16
    assert np.count_nonzero(occ.semantics) == 4

    rng = np.random.default_rng(2)
    n = 3000
    zyx = np.column_stack([rng.integers(0, 3, n), rng.integers(0, 4, n), rng.integers(0, 4, n)])
    vel = rng.normal(size=(n, 3))
    sparse = np.column_stack([zyx, vel, rng.integers(0, 17, n)]).astype(np.float64)  # (N, 7) with velocity
    np.save(tmp_path / "random.npy", sparse)
    np.testing.assert_array_equal(
        read_openoccupancy(tmp_path / "random.npy").semantics, _openoccupancy_reference(sparse[:, [0, 1, 2, 6]])
    )


def test_surroundocc_round_trip(tmp_path: Path) -> None:
    sparse = np.array([[0, 0, 0, 4], [199, 10, 15, 0], [5, 6, 7, 16]], dtype=np.int64)
    np.save(tmp_path / "x.pcd.bin.npy", sparse)
    occ = read_surroundocc(tmp_path / "x.pcd.bin.npy")
    assert occ.grid == GridSpec.surroundocc() and occ.grid.frame == "lidar"
    assert occ.semantics[0, 0, 0] == 4 and occ.semantics[199, 10, 15] == 255 and occ.semantics[5, 6, 7] == 16
    assert np.count_nonzero(occ.semantics) == 3


# --- corrupt files ---------------------------------------------------------------------------------


def test_truncated_npz(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "labels.npz", **_occ3d_arrays(np.random.default_rng(3)))
    data = (tmp_path / "labels.npz").read_bytes()
    (tmp_path / "labels.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"labels\.npz: corrupt or truncated"):
        read_occ3d(tmp_path / "labels.npz")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("semantics", np.zeros((200, 200, 15), np.uint8), "field 'semantics' has shape"),
        ("semantics", np.full(SHAPE, 18, np.uint8), r"field 'semantics' has 640000 labels outside \[0, 18\)"),
        ("mask_camera", np.full(SHAPE, 2, np.uint8), "field 'mask_camera' must hold 0/1"),
        ("flow", np.zeros((*SHAPE, 3), np.float32), "field 'flow' has shape"),
        ("flow", np.full((*SHAPE, 2), np.nan, np.float32), "field 'flow' must be finite"),
    ],
)
def test_occ3d_rejects_bad_fields(tmp_path: Path, field: str, value: np.ndarray, message: str) -> None:
    arrays = {**_occ3d_arrays(np.random.default_rng(4)), field: value}
    np.savez(tmp_path / "labels.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        read_occ3d(tmp_path / "labels.npz")
    assert "labels.npz" in str(err.value)


def test_missing_key_and_file(tmp_path: Path) -> None:
    np.savez(tmp_path / "labels.npz", semantics=np.zeros(SHAPE, np.uint8))
    with pytest.raises(DataError, match=r"missing field\(s\) \['flow'\]"):
        read_openocc_v2(tmp_path / "labels.npz")
    with pytest.raises(DataError, match="file not found"):
        read_occ3d(tmp_path / "absent.npz")
    with pytest.raises(DataError, match="absent.npy: file not found"):
        read_surroundocc(tmp_path / "absent.npy")


@pytest.mark.parametrize(
    ("reader", "array", "message"),
    [
        (read_openoccupancy, np.array([[0, 0, 0, 17]]), r"field 'cls' has 1 labels outside 0\.\.16"),
        (read_openoccupancy, np.array([[0, 0, 0, 1.5]]), "field 'cls'"),
        (read_openoccupancy, np.zeros((3, 5)), r"expected \(N, 4 or 7\)"),
        (read_surroundocc, np.array([[200, 0, 0, 1]]), r"field \[x, y, z\]: 1 indices outside"),
        (read_surroundocc, np.zeros(4), r"shape \(4,\)"),
        (read_surroundocc, np.array([[0, 0, 0, "a"]], dtype=object), "corrupt or truncated npy"),
    ],
)
def test_sparse_readers_reject_bad_files(tmp_path: Path, reader, array: np.ndarray, message: str) -> None:
    np.save(tmp_path / "occ.npy", array, allow_pickle=True)  # the object array needs pickle to be written
    with pytest.raises(DataError, match=message):
        reader(tmp_path / "occ.npy")


def test_truncated_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "occ.npy", np.zeros((100, 4), np.int64))
    data = (tmp_path / "occ.npy").read_bytes()
    (tmp_path / "occ.npy").write_bytes(data[:-50])
    with pytest.raises(DataError, match="occ.npy: corrupt or truncated npy"):
        read_surroundocc(tmp_path / "occ.npy")
