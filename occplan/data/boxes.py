"""Annotated agent boxes of a keyframe, moved into the keyframe ego frame."""

from __future__ import annotations

import numpy as np
from nuscenes.nuscenes import NuScenes

from occplan.data.tables import get_row, pose_of
from occplan.types import AgentBox, Pose


def agent_boxes(nusc: NuScenes, sample: dict, ego_from_world: Pose) -> tuple[AgentBox, ...]:
    """All ``sample_annotation`` boxes of ``sample`` in the ego frame given by ``ego_from_world``.

    Centre, yaw and velocity are in that ego frame; velocity is the devkit's ``box_velocity``
    (centred difference of neighbouring annotations, world frame) rotated into the ego frame, with
    NaN (single annotation or too large a gap) replaced by 0. ``size_m`` is (w, l, h).
    """
    boxes = []
    for token in sample["anns"]:
        ann = get_row(nusc, "sample_annotation", token, f"sample {sample['token']}")
        ego_from_box = ego_from_world @ pose_of(ann, "sample_annotation")
        vel_world = np.nan_to_num(nusc.box_velocity(token), nan=0.0)
        attributes = tuple(
            get_row(nusc, "attribute", a, f"sample_annotation {token}")["name"] for a in ann["attribute_tokens"]
        )
        boxes.append(
            AgentBox(
                center_m=ego_from_box.translation_m.copy(),
                size_m=np.asarray(ann["size"], dtype=np.float64),
                yaw_rad=ego_from_box.yaw_rad,
                velocity_mps=(ego_from_world.rotation @ vel_world)[:2].copy(),
                category=ann["category_name"],
                instance=ann["instance_token"],
                attributes=attributes,
                num_lidar_pts=int(ann["num_lidar_pts"]),
            )
        )
    return tuple(boxes)
