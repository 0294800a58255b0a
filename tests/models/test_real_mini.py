"""Inference on the real nuScenes extract: cameras and LiDAR in, occupancy out.

Needs ../shared/data/nuscenes-real-mini (``real_mini`` fixture) and, for the quality check, the shipped
tiny checkpoints in models/weights/.
"""

from __future__ import annotations

import numpy as np
import pytest

import models
from models.torch_base import shipped_weights
from occplan.interfaces import SensorRequest
from occplan.types import CAMERA_CHANNELS
from occplan.viz.bev import save_bev_picture

EGO_CENTRE_X_M = 1.3  # rear axle -> box centre (VehicleParams)


@pytest.fixture(scope="module")
def real_frames(real_mini):
    from occplan.data import NuScenesSource

    source = NuScenesSource(real_mini, "v1.0-mini")
    frames = [f for name in source.scene_names() for f in source.scenario(name).frames[::8]]
    request = SensorRequest(cameras=CAMERA_CHANNELS, lidar_sweeps=1)  # the extract has no sweeps
    return [source.sensor_frame(f, request) for f in frames]


def _shipped(name: str):
    if not shipped_weights(name, "tiny").is_file():
        pytest.skip(f"shipped checkpoint {shipped_weights(name, 'tiny')} not present")
    return models.create(name)


def _drivable_under_ego(pred) -> bool:
    """Any driveable_surface voxel in the 3x3 columns under the ego box centre."""
    i, j, _ = pred.grid.index_of(np.array([[EGO_CENTRE_X_M, 0.0, 0.0]]))[0]
    cols = pred.semantics[i - 1 : i + 2, j - 1 : j + 2]
    return bool(np.any(cols == pred.labels.index("driveable_surface")))


@pytest.mark.slow
@pytest.mark.parametrize("name", models.trainable_models())
def test_shipped_model_on_real_keyframes(name, real_frames, tmp_path):
    model = _shipped(name)
    covered = []
    for k, frame in enumerate(real_frames):
        pred = model.predict(frame)
        assert pred.semantics.shape == (200, 200, 16)
        if pred.point_labels is not None:
            assert len(pred.point_labels) == frame.lidar.num_points
        covered.append(_drivable_under_ego(pred))
        if k == 0:
            png = save_bev_picture(pred, frame.lidar.points, tmp_path / f"{name}_bev.png", title=frame.sample_token)
            assert png.stat().st_size > 10_000
    assert np.mean(covered) >= 0.6, f"{name}: driveable surface under the ego in {np.mean(covered):.0%} of keyframes"


@pytest.mark.parametrize("name", models.trainable_models())
def test_real_keyframe_end_to_end_with_random_weights(name, real_frames, tmp_path):
    """1600x900 images resized inside the model, LiDAR without sweeps: valid output and a picture."""
    frame = real_frames[0]
    pred = models.create(name, weights=None).predict(frame)
    assert pred.flow.shape == (200, 200, 16, 2)
    png = save_bev_picture(pred, frame.lidar.points, tmp_path / "bev.png")
    assert png.stat().st_size > 10_000
