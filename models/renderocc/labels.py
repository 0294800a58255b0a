"""RenderOcc's 2D labels: per-ray Occ3D classes from the per-pixel semantic images the generated datasets ship.

``semantic/<CAM>/<log>__<CAM>__<t_us>.png`` beside ``samples/<CAM>/<...>.jpg`` holds the nuScenes-lidarseg
general class of each pixel, 0 where the pixel sees sky (``scenarios.writer.sensor_files``,
``occplan.world.GeneratedWorld.render_cameras``). A ray takes the label of the pixel it passes through
(``models.renderocc.rays``: pixel ``((c + 0.5) * s, (r + 0.5) * s)`` of the network's image size, scaled to the
semantic image), converted to Occ3D by ``LabelSet.lidarseg_general().table_to(LabelSet.occ3d())``: classes
0..16, ``free`` for sky (the ray leaves the grid unstopped), ``IGNORE`` for noise-free unmapped classes (ego).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models.losses import IGNORE
from occplan.errors import DataError
from occplan.types import CameraFrame, LabelSet
from scenarios.writer.sensor_files import semantic_filename

SKY = 0
"""General-class value of a sky pixel in the semantic images."""
MOVABLE_OCC3D = ("bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian", "trailer", "truck")
"""Occ3D classes that may move between keyframes (ignored on the rays of an earlier keyframe)."""


def general_to_occ3d() -> np.ndarray:
    """(32,) int64 table general class -> Occ3D label: sky -> free, unmapped -> IGNORE."""
    occ3d = LabelSet.occ3d()
    table = LabelSet.lidarseg_general().table_to(occ3d).astype(np.int64)
    table[SKY] = occ3d.free_index
    return table


def semantic_path(cam: CameraFrame) -> Path:
    """The semantic PNG of ``cam``'s image (``<dataroot>/semantic/<CAM>/<stem>.png``)."""
    if cam.image_path is None:
        raise DataError(f"camera {cam.channel}: no image_path, so no semantic image to train from")
    image = Path(cam.image_path)
    return image.parents[2] / semantic_filename(str(image.relative_to(image.parents[2])))


def ray_pixel_labels(
    cam: CameraFrame, ray_hw: tuple[int, int], stride: int, image_wh_px: tuple[int, int], table: np.ndarray
) -> np.ndarray:
    """(Hr * Wr,) int64 Occ3D labels of ``cam``'s rays (row-major ray cells of ``stride`` pixels of the image
    resized to ``image_wh_px``)."""
    path = semantic_path(cam)
    if not path.is_file():
        raise DataError(
            f"{path}: semantic image not found; renderocc trains from the per-pixel semantic images that the "
            "generated datasets ship (semantic/<CAM>/*.png)"
        )
    try:
        with Image.open(path) as im:
            sem = np.asarray(im)
    except OSError as e:
        raise DataError(f"{path}: cannot decode semantic image ({e})") from e
    if sem.ndim != 2 or sem.shape != (cam.height_px, cam.width_px):
        raise DataError(f"{path}: semantic image of shape {sem.shape}, expected ({cam.height_px}, {cam.width_px})")
    hr, wr = ray_hw
    w, h = image_wh_px
    u = np.floor((np.arange(wr) + 0.5) * stride * cam.width_px / w).astype(np.int64)
    v = np.floor((np.arange(hr) + 0.5) * stride * cam.height_px / h).astype(np.int64)
    general = sem[v[:, None], u[None, :]].reshape(-1).astype(np.int64)
    if general.max(initial=0) >= len(table):
        raise DataError(f"{path}: pixel value {general.max()} is not a lidarseg general class (0..{len(table) - 1})")
    return table[general]


def without_movable(labels: np.ndarray) -> np.ndarray:
    """``labels`` with the movable Occ3D classes set to IGNORE."""
    occ3d = LabelSet.occ3d()
    movable = np.isin(labels, [occ3d.index(c) for c in MOVABLE_OCC3D])
    return np.where(movable, IGNORE, labels)
