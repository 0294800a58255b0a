"""Occupancy labels from LiDAR for any nuScenes-format dataroot (``python -m occplan.labels``).

One module per step: ``aggregate`` (the scene's sweeps in the world frame, per-keyframe windows, objects
placed back at their boxes), ``split`` (static / dynamic split by annotated boxes), ``semantics``
(lidarseg -> Occ3D, label transfer to sweep points, box classes), ``voxelise`` (majority vote on the
target grid), ``densify`` (hole filling of the static scene), ``flow`` (box velocities),
``visibility`` (``mask_lidar`` / ``mask_camera`` by ray casting), ``writer`` (Occ3D files, per-scene
records), ``pipeline`` (one scene), ``score`` (against a dataroot's exact GT) and ``consistency``
(leave-one-keyframe-out on real logs). Method and measured quality: docs/LABELS.md.
"""

from occplan.labels.config import GRIDS, LabelConfig
from occplan.labels.pipeline import KeyframeLabels, SceneLabeller, check_inputs, label_scene

__all__ = ["GRIDS", "KeyframeLabels", "LabelConfig", "SceneLabeller", "check_inputs", "label_scene"]
