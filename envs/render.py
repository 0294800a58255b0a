"""Bird's-eye-view image of a decision: occupancy top view, agent boxes and the ego plan."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from occplan.rules.footprint import box_corners
from occplan.types import AgentBox, GridSpec, Pose, VehicleParams

# Occ3D classes 0..17 (others .. vegetation, free)
PALETTE = np.array(
    [
        [0, 0, 0], [255, 120, 50], [255, 192, 203], [255, 255, 0], [0, 150, 245], [0, 255, 255],
        [200, 180, 0], [255, 0, 0], [255, 240, 150], [135, 60, 0], [160, 32, 240], [60, 60, 60],
        [139, 137, 137], [75, 0, 75], [150, 240, 80], [230, 230, 250], [0, 175, 0], [255, 255, 255],
    ],
    dtype=np.uint8,
)  # fmt: skip


def top_view(semantics: np.ndarray, free_index: int) -> np.ndarray:
    """(X, Y, Z) labels -> (X, Y) label of the highest occupied voxel per column (free where empty)."""
    occupied = semantics != free_index
    top = semantics.shape[2] - 1 - np.argmax(occupied[:, :, ::-1], axis=2)
    labels = np.take_along_axis(semantics, top[..., None], axis=2)[..., 0]
    return np.where(occupied.any(axis=2), labels, free_index)


def bev_image(
    semantics: np.ndarray | None,
    grid: GridSpec,
    agents_world: Sequence[AgentBox],
    world_from_ego: Pose,
    plan_xy_m: np.ndarray | None,
    vehicle: VehicleParams,
    scale_px_per_m: float = 5.0,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB, ego frame, x (forward) up, y (left) to the left, covering ``grid``'s xy range."""
    (x0, y0, _), (x1, y1, _) = grid.range_min_m, grid.range_max_m
    h, w = round((x1 - x0) * scale_px_per_m), round((y1 - y0) * scale_px_per_m)

    def px(xy: np.ndarray) -> list[tuple[float, float]]:  # ego (x, y) -> image (col, row)
        return [((y1 - y) * scale_px_per_m, (x1 - x) * scale_px_per_m) for x, y in xy]

    if semantics is not None:
        cells = PALETTE[top_view(semantics, 17)]  # (X, Y, 3) -> rows = -x, cols = -y
        img = Image.fromarray(np.ascontiguousarray(cells[::-1, ::-1])).resize((w, h), Image.NEAREST)
    else:
        img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if agents_world:
        ego_from_world = world_from_ego.inverse()
        centers = ego_from_world.transform_points(np.array([a.center_m for a in agents_world]))
        yaw = np.array([a.yaw_rad for a in agents_world]) - world_from_ego.yaw_rad
        sizes = np.array([a.size_m[:2] for a in agents_world])
        for corners in box_corners(centers[:, :2], sizes, yaw):
            draw.polygon(px(corners), outline=(0, 0, 255))
    ego = box_corners(
        np.array([[vehicle.rear_axle_to_center_m, 0.0]]), np.array([[vehicle.width_m, vehicle.length_m]]), np.zeros(1)
    )
    draw.polygon(px(ego[0]), fill=(0, 200, 0))
    if plan_xy_m is not None and len(plan_xy_m):
        draw.line(px(np.vstack([[0.0, 0.0], plan_xy_m])), fill=(255, 0, 255), width=2)
    return np.asarray(img)
