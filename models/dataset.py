"""Training / evaluation samples from a nuScenes-format dataroot (``occplan.data.NuScenesSource``).

A sample is one keyframe: the model's encoded SensorFrame (its ``training_request()``: the inference
sensor request plus, for camera models with depth supervision, LiDAR for the targets), the GT
OccupancyFrame as target tensors and, for LiDAR models, the lidarseg challenge labels of the
keyframe points. Keyframes without occupancy GT are skipped.
"""

from __future__ import annotations

import numpy as np
import torch

from models.torch_base import Batch, TorchOccModel
from occplan.errors import DataError
from occplan.types import Frame, LabelSet, OccupancyFrame, SensorFrame


def keyframes(source, split: str | None, max_frames: int | None = None) -> list[Frame]:
    """The keyframes of the split's scenes, in scene then time order (at most ``max_frames``)."""
    frames: list[Frame] = []
    for name in source.scene_names(split):
        frames.extend(source.scenario(name).frames)
    if not frames:
        raise DataError(f"{source.dataroot}: split {split!r} has no keyframes")
    return frames[:max_frames] if max_frames else frames


def load_sample(source, frame: Frame, model: TorchOccModel) -> tuple[SensorFrame, OccupancyFrame, np.ndarray | None]:
    """SensorFrame for the model's ``training_request()`` (as the harness serves it: missing LiDAR sweeps
    repeat the earliest, ``NuScenesSource.lidar``), GT occupancy and, for models that read LiDAR at
    inference (``sensor_request()``), challenge lidarseg of one keyframe."""
    sensor = source.sensor_frame(frame, model.training_request())
    occ = source.occupancy(frame)
    if occ is None:
        raise DataError(f"{source.dataroot}: no occupancy GT for scene {frame.scene_name} sample {frame.sample_token}")
    lidar_model = model.sensor_request().lidar_sweeps > 0
    seg = source.lidarseg(frame, LabelSet.lidarseg_challenge()) if lidar_model and sensor.lidar is not None else None
    return sensor, occ, seg


def history_sensor_frames(source, frame: Frame, model: TorchOccModel) -> list[SensorFrame]:
    """The model's inference SensorFrames of the up to ``model.history_keyframes`` keyframes before ``frame``
    in its scene, oldest first (fewer at the scene's start)."""
    earlier = source.scenario(frame.scene_name).frames[max(0, frame.index - model.history_keyframes) : frame.index]
    return [source.sensor_frame(f, model.sensor_request()) for f in earlier]


class OccDataset(torch.utils.data.Dataset):
    """Keyframes of ``split`` as (encoded inputs, targets) for ``model``; for a temporal model with
    ``history_keyframes`` > 0 the inputs also carry ``history``: the encodings of the previous keyframes of
    the scene (``history_sensor_frames``), which its ``collate`` reads."""

    def __init__(self, source, split: str | None, model: TorchOccModel, max_frames: int | None = None) -> None:
        self.source, self.model = source, model
        self.frames = keyframes(source, split, max_frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[Batch, Batch]:
        frame = self.frames[i]
        sensor, occ, seg = load_sample(self.source, frame, self.model)
        inputs = self.model.encode(sensor)
        if self.model.history_keyframes:
            inputs["history"] = [self.model.encode(s) for s in history_sensor_frames(self.source, frame, self.model)]
        return inputs, self.model.targets(sensor, occ, seg)

    def collate(self, items: list[tuple[Batch, Batch]]) -> tuple[Batch, Batch]:
        return self.model.collate([a for a, _ in items]), self.model.collate_targets([b for _, b in items])


def label_counts(source, frames: list[Frame], num_classes: int, mask: str = "camera") -> np.ndarray:
    """(num_classes,) voxel counts of the GT labels inside ``mask`` over ``frames`` (for class weights)."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for f in frames:
        occ = source.occupancy(f)
        if occ is None:
            continue
        m = {"camera": occ.mask_camera, "lidar": occ.mask_lidar}.get(mask)
        labels = occ.semantics if m is None else occ.semantics[m]
        counts += np.bincount(labels.ravel(), minlength=num_classes)[:num_classes]
    return counts


def height_counts(source, frames: list[Frame], num_classes: int) -> np.ndarray:
    """(Z, num_classes) GT label counts per height level inside ``mask_camera`` (for the trivial baseline)."""
    out: np.ndarray | None = None
    for f in frames:
        occ = source.occupancy(f)
        if occ is None:
            continue
        nz = occ.grid.shape[2]
        if out is None:
            out = np.zeros((nz, num_classes), dtype=np.int64)
        m = occ.mask_camera if occ.mask_camera is not None else np.ones(occ.grid.shape, bool)
        z = np.broadcast_to(np.arange(nz), occ.grid.shape)[m]
        out += np.bincount(z * num_classes + occ.semantics[m].astype(np.int64), minlength=nz * num_classes).reshape(
            nz, num_classes
        )
    if out is None:
        raise DataError(f"{source.dataroot}: none of {len(frames)} keyframes has occupancy GT")
    return out
