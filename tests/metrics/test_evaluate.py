"""The standalone evaluator: prediction-dir parsing, missing-sample refusal, label-set conversion,
plan files, and end-to-end scoring on a small synthetic scene (and on the generated tiny set)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from occplan import PROTOCOL_VERSION
from occplan.errors import DataError
from occplan.evaluate import evaluate, main, prediction_files, read_plans, read_prediction
from occplan.io import json_safe
from occplan.types import (
    Command,
    EgoState,
    Frame,
    GridSpec,
    LabelSet,
    MapInfo,
    OccupancyFrame,
    Pose,
    Scenario,
    Trajectory,
)

GRID = GridSpec.occ3d_nuscenes()


def _frame(i: int) -> Frame:
    pose = Pose.from_xy_yaw(100.0 + 2.0 * i, 50.0, 0.0)
    future = Trajectory(np.column_stack([np.arange(1, 7) * 2.0, np.zeros(6), np.zeros(6)]))
    return Frame(
        "scene-x", f"tok{i}", i, 1_000_000 + 500_000 * i, pose, Pose(np.eye(3), np.array([0.9858, 0.0, 1.8402])),
        f"lid{i}", "", (), (), EgoState(0, 100.0 + 2 * i, 50.0, 0.0, 4.0), np.zeros((0, 3)), future,
        np.full(6, i == 0), Command.STRAIGHT,
    )  # fmt: skip


class FakeSource:
    """The slice of ``NuScenesSource`` the evaluator uses, over one synthetic 4-frame scene."""

    dataroot, version = Path("/synthetic"), "v1.0-test"

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.frames = tuple(_frame(i) for i in range(4))
        self.gt = {}
        for f in self.frames:
            sem = np.full(GRID.shape, 17, dtype=np.uint8)
            sem[:, :, 1] = 11
            sem[rng.integers(0, 200, 50), rng.integers(0, 200, 50), 3] = 4
            mask = np.ones(GRID.shape, dtype=bool)
            self.gt[f.sample_token] = OccupancyFrame(
                sem, GRID, LabelSet.occ3d(), mask_lidar=mask, mask_camera=mask, world_from_grid=f.world_from_ego
            )

    def scene_names(self, split=None):
        return ["scene-x"]

    def scenario(self, name):
        return Scenario(name, "t", "loc", self.frames, MapInfo("loc", "none"), "/synthetic", "v1.0-test")

    def occupancy(self, frame):
        return self.gt[frame.sample_token]


def _write_preds(src: FakeSource, d: Path, transform=lambda a: a, skip=()) -> None:
    d.mkdir(exist_ok=True)
    for tok, gt in src.gt.items():
        if tok not in skip:
            np.savez_compressed(d / f"{tok}.npz", pred=transform(gt.semantics))


def test_identity_predictions_score_100(tmp_path):
    src = FakeSource()
    _write_preds(src, tmp_path / "pred")
    res = evaluate(src, tmp_path / "pred")
    assert res["occ/miou"] == pytest.approx(100.0)
    assert res["occ/rayiou"] == pytest.approx(100.0)
    assert res["n_samples"] == 4 and res["n_missing"] == 0
    assert res["protocol_version"] == PROTOCOL_VERSION and res["label_set"] == "occ3d"
    assert res["grid"]["shape"] == (200, 200, 16)


def test_missing_samples_refused_unless_allowed(tmp_path):
    src = FakeSource()
    _write_preds(src, tmp_path / "pred", skip=("tok2",))
    with pytest.raises(DataError, match=r"1 of 4 samples have no prediction.*tok2.*--allow-missing"):
        evaluate(src, tmp_path / "pred")
    res = evaluate(src, tmp_path / "pred", allow_missing=True)
    assert res["n_samples"] == 3 and res["n_missing"] == 1


def test_openocc_predictions_are_converted_by_name(tmp_path):
    src = FakeSource()
    to_openocc = LabelSet.occ3d().table_to(LabelSet.openocc_v2())
    _write_preds(src, tmp_path / "pred", transform=lambda a: to_openocc[a])
    res = evaluate(src, tmp_path / "pred", label_set="openocc")
    assert res["occ/miou"] == pytest.approx(100.0)


def test_prediction_file_errors(tmp_path):
    d = tmp_path / "pred"
    d.mkdir()
    (d / "bad.npz").write_bytes(b"not a zip")
    np.savez(d / "wrongkey.npz", arr_0=np.zeros(GRID.shape, np.uint8))
    np.savez(d / "wrongshape.npz", pred=np.zeros((200, 200, 8), np.uint8))
    np.savez(d / "range.npz", pred=np.full(GRID.shape, 18, np.uint8))
    np.savez(d / "others.npz", pred=np.zeros(GRID.shape, np.uint8))
    assert set(prediction_files(d)) == {"bad", "wrongkey", "wrongshape", "range", "others"}
    occ3d, openocc = LabelSet.occ3d(), LabelSet.openocc_v2()
    with pytest.raises(DataError, match="bad.npz: corrupt"):
        read_prediction(d / "bad.npz", GRID, occ3d, occ3d)
    with pytest.raises(DataError, match=r"wrongkey.npz: missing field\(s\) \['pred'\]"):
        read_prediction(d / "wrongkey.npz", GRID, occ3d, occ3d)
    with pytest.raises(DataError, match="wrongshape.npz: field 'pred'"):
        read_prediction(d / "wrongshape.npz", GRID, occ3d, occ3d)
    with pytest.raises(DataError, match="range.npz: field 'pred' has labels >= 18"):
        read_prediction(d / "range.npz", GRID, occ3d, occ3d)
    with pytest.raises(DataError, match="others.npz.*absent from openocc_v2"):
        read_prediction(d / "others.npz", GRID, occ3d, openocc)
    with pytest.raises(DataError, match="not found"):
        prediction_files(tmp_path / "nope")


def test_prediction_flow_is_not_read_when_the_gt_has_none(tmp_path):
    """The synthetic GT has no flow, so the predictions' flow is not scored: it is neither inflated
    nor checked (a non-finite flow passes) and the result equals that of flow-less predictions."""
    src = FakeSource()
    _write_preds(src, tmp_path / "plain")
    (tmp_path / "flow").mkdir()
    for tok, gt in src.gt.items():
        nan_flow = np.full((*GRID.shape, 2), np.nan, np.float32)
        np.savez_compressed(tmp_path / "flow" / f"{tok}.npz", pred=gt.semantics, flow=nan_flow)
    plain, with_flow = evaluate(src, tmp_path / "plain"), evaluate(src, tmp_path / "flow")
    assert "flow/mave" not in with_flow
    assert json.dumps(json_safe(with_flow)) == json.dumps(json_safe(plain))


def test_plan_file(tmp_path):
    src = FakeSource()
    plans = {f.sample_token: f.future.xy_m.tolist() for f in src.frames}
    plans["tok0"] = (np.asarray(plans["tok0"]) + np.array([0.0, 1.0])).tolist()
    path = tmp_path / "plans.json"
    path.write_text(json.dumps(plans))
    res = evaluate(src, None, plan_file=path)
    assert res["plan/n_samples_all"] == 4.0
    assert res["plan/n_samples"] == 1.0  # only tok0 has a full 3 s future in this scene
    assert res["plan/stp3/l2_avg"] == pytest.approx(1.0)
    assert res["plan/uniad/col_occ_1s"] == 0.0
    plans["tok1"][2] = [float("nan"), 0.0]
    path.write_text(json.dumps(plans))
    with pytest.raises(DataError, match="plan of tok1 has non-finite"):
        read_plans(path)
    path.write_text(json.dumps({"tok0": [[0, 0]] * 5}))
    with pytest.raises(DataError, match="6 \\[x, y\\] waypoints"):
        read_plans(path)


@pytest.mark.slow
def test_cli_end_to_end_on_tiny_dataroot(tiny_dataroot, tmp_path):
    from occplan.data import NuScenesSource

    src = NuScenesSource(tiny_dataroot, "v1.0-occplan")
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    n = 0
    for name in src.scene_names():
        for f in src.scenario(name).frames:
            gt = src.occupancy(f)
            if gt is not None:
                extra = {} if gt.flow is None else {"flow": gt.flow}
                np.savez_compressed(pred_dir / f"{f.sample_token}.npz", pred=gt.semantics, **extra)
                n += 1
    out = tmp_path / "res.json"
    cache = ["--cache-dir", str(tmp_path / "cache")]  # not the user cache
    assert main(["--data", str(tiny_dataroot), "--pred-dir", str(pred_dir), "--out", str(out), *cache]) == 0
    res = json.loads(out.read_text())
    assert res["n_samples"] == n > 0
    assert res["occ/miou"] == pytest.approx(100.0)
    assert res["occ/rayiou"] == pytest.approx(100.0)
    assert res["flow/mave"] == 0.0  # the generated GT carries flow; identical flow predicted
    assert res["occ/score"] == pytest.approx(100.0)
