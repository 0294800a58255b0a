"""Training on real nuScenes: the real extract plus the Occ3D ``gts/`` that ``python -m occplan.labels`` writes
for it, laid out as a nuScenes dataroot (``v1.0-mini/``, ``samples/``, ``maps/``, ``gts/``, ``splits.json``).

Needs ../shared/data/nuscenes-real-mini (``real_mini`` fixture). The extract has no sweeps and no lidarseg, so
the labels come from ``--degraded`` (keyframes, geometric classes) and LiDAR models read the keyframe sweep
repeated (``NuScenesSource.lidar``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import models
from models.train import main as train_main
from occplan.errors import DataError
from occplan.labels.__main__ import main as labels_main

TRAIN_SCENE = "scene-0523"


@pytest.fixture(scope="module")
def real_root_with_labels(real_mini, tmp_path_factory):
    root = tmp_path_factory.mktemp("real_with_gts")
    for name in ("v1.0-mini", "samples", "maps"):
        (root / name).symlink_to(real_mini / name, target_is_directory=True)
    (root / "splits.json").write_text(json.dumps({"train": [TRAIN_SCENE], "val": []}))
    assert labels_main(["--data", str(root), "--out", str(root / "gts"), "--scenes", TRAIN_SCENE, "--degraded"]) == 0
    return root


def test_generated_labels_are_the_dataset_gt(real_root_with_labels):
    from occplan.data import NuScenesSource

    source = NuScenesSource(real_root_with_labels, "v1.0-mini")
    frames = source.scenario(TRAIN_SCENE).frames
    occ = source.occupancy(frames[0])
    assert occ is not None and occ.semantics.shape == (200, 200, 16)
    assert occ.labels.index("driveable_surface") in np.unique(occ.semantics)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.trainable_models())
def test_every_trainable_model_trains_two_iterations_on_the_real_extract(name, real_root_with_labels, tmp_path):
    """Two ``models.train`` iterations on real sensor data with generated labels, and a checkpoint that loads
    back. renderocc trains from per-pixel semantic images, which real nuScenes does not have: it is refused
    with an error naming the missing image."""
    args = ["--model", name, "--data", str(real_root_with_labels), "--split", "train", "--max-frames", "2"]
    args += ["--out", str(tmp_path), "--workers", "0", "--iters", "2", "--ckpt-every", "2", "--threads", "1"]
    if getattr(models.model_class(name), "trains_from_2d_labels", False):
        with pytest.raises(DataError, match=r"semantic/CAM_\w+/.*\.png: semantic image not found"):
            train_main(args)
        return
    assert train_main(args) == 0
    meta = json.loads((tmp_path / f"{name}_tiny.json").read_text())
    assert meta["step"] == 2 and all(np.isfinite(meta["loss_history"]))
    assert meta["data"] == str(real_root_with_labels) and meta["num_samples"] == 2
    assert models.create(name, weights=str(tmp_path / f"{name}_tiny.safetensors")).name == name
