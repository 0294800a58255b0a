"""The bird's-eye-view renderer: occupancy top views with agent boxes, the ego and its trajectories
(numpy + PIL, matplotlib for the LiDAR picture; no torch).

- ``capture`` / ``render`` / ``save_gif`` / ``save_png``: the harness's ground truth | prediction frames;
- ``decision_image``: one panel of a decision (the Gymnasium env's ``render``);
- ``save_bev_picture``: a prediction's top view with LiDAR points (a model's qualitative check).

Image convention: ego x (forward) points up, ego y (left) points left; one voxel column is
``scale`` x ``scale`` pixels; each column shows its topmost non-free label, coloured by class name
(``CLASS_COLORS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyPrediction, Pose, VehicleParams

# nuScenes-lidarseg challenge colours, by class name (RGB).
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "others": (90, 90, 90),
    "barrier": (112, 128, 144),
    "bicycle": (220, 20, 60),
    "bus": (255, 127, 80),
    "car": (255, 158, 0),
    "construction_vehicle": (233, 150, 70),
    "motorcycle": (255, 61, 99),
    "pedestrian": (0, 0, 230),
    "traffic_cone": (47, 79, 79),
    "trailer": (255, 140, 0),
    "truck": (255, 99, 71),
    "driveable_surface": (0, 207, 191),
    "other_flat": (175, 0, 75),
    "sidewalk": (75, 0, 75),
    "terrain": (112, 180, 60),
    "manmade": (222, 184, 135),
    "vegetation": (0, 175, 0),
    "free": (255, 255, 255),
}
UNKNOWN_COLOR = (160, 160, 160)
PLAN_COLOR = (220, 0, 0)
LOG_COLOR = (0, 120, 0)
EGO_COLOR = (30, 30, 30)
HEADER_PX = 16


@dataclass(frozen=True)
class BevFrame:
    """What one decision looked like, in its ego frame.

    ``gt_top`` / ``pred_top`` (X, Y) uint8 topmost non-free label per column (free where empty);
    ``agent_corners_xy_m`` (N, 4, 2) float32 agent box corners; ``plan_xy_m`` (T, 2) planned and
    ``log_xy_m`` (K, 2) valid logged waypoints; ``title`` a caption.
    """

    gt_top: np.ndarray
    pred_top: np.ndarray
    agent_corners_xy_m: np.ndarray
    plan_xy_m: np.ndarray
    log_xy_m: np.ndarray
    title: str


def top_labels(semantics: np.ndarray, free_index: int) -> np.ndarray:
    """(X, Y, Z) labels -> (X, Y) label of the highest non-free voxel of each column (free if none)."""
    occupied = semantics != free_index
    z_top = semantics.shape[2] - 1 - np.argmax(occupied[:, :, ::-1], axis=2)
    top = np.take_along_axis(semantics, z_top[:, :, None], axis=2)[:, :, 0]
    return np.where(occupied.any(axis=2), top, np.uint8(free_index)).astype(np.uint8)


def capture(
    gt_semantics: np.ndarray,
    pred_semantics: np.ndarray,
    free_index: int,
    agents_ego: tuple[AgentBox, ...],
    plan_xy_m: np.ndarray,
    log_xy_m: np.ndarray,
    title: str,
) -> BevFrame:
    """A compact BevFrame (two (X, Y) label maps, boxes and trajectories) of one decision."""
    corners = np.stack([b.corners_xy() for b in agents_ego]).astype(np.float32) if agents_ego else np.zeros((0, 4, 2))
    return BevFrame(
        top_labels(gt_semantics, free_index), top_labels(pred_semantics, free_index), corners.astype(np.float32),
        np.asarray(plan_xy_m, dtype=np.float32), np.asarray(log_xy_m, dtype=np.float32), title,
    )  # fmt: skip


def palette(labels: LabelSet) -> np.ndarray:
    """(C, 3) uint8 colour of each class of ``labels`` (by name)."""
    return np.array([CLASS_COLORS.get(n, UNKNOWN_COLOR) for n in labels.class_names], dtype=np.uint8)


class BevCanvas:
    """Maps ego-frame metres to pixels of one panel of ``grid`` at ``scale`` pixels per voxel."""

    def __init__(self, grid: GridSpec, scale: int) -> None:
        self.grid, self.scale = grid, scale
        self.x_max_m, self.y_max_m = grid.range_max_m[0], grid.range_max_m[1]
        self.px_per_m = scale / grid.voxel_size_m

    def pixels(self, xy_m: np.ndarray) -> list[tuple[float, float]]:
        """(N, 2) ego (x, y) metres -> [(col, row)] PIL pixel coordinates."""
        xy = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        cols = (self.y_max_m - xy[:, 1]) * self.px_per_m
        rows = (self.x_max_m - xy[:, 0]) * self.px_per_m
        return list(zip(cols.tolist(), rows.tolist(), strict=True))

    def panel(
        self, top: np.ndarray, colors: np.ndarray, frame: BevFrame, vehicle: VehicleParams, caption: str | None
    ) -> Image.Image:
        """One panel: ``top`` (X, Y) labels coloured by ``colors`` (C, 3), ``frame``'s boxes and
        trajectories, the ego; a ``HEADER_PX`` caption row above unless ``caption`` is None."""
        header = HEADER_PX if caption is not None else 0
        rgb = colors[top[::-1, ::-1]]
        rgb = np.repeat(np.repeat(rgb, self.scale, axis=0), self.scale, axis=1)
        img = Image.new("RGB", (rgb.shape[1], rgb.shape[0] + header), (255, 255, 255))
        img.paste(Image.fromarray(rgb), (0, header))
        draw = ImageDraw.Draw(img)
        if caption is not None:
            draw.text((4, 2), caption, fill=(0, 0, 0))

        def shifted(xy: np.ndarray) -> list[tuple[float, float]]:
            return [(c, r + header) for c, r in self.pixels(xy)]

        for corners in frame.agent_corners_xy_m:
            draw.polygon(shifted(corners), outline=(0, 0, 0))
        half_w, ahead = vehicle.width_m / 2, vehicle.rear_axle_to_center_m
        ego = np.array([[ahead + vehicle.length_m / 2, half_w], [ahead - vehicle.length_m / 2, half_w]])
        ego = np.vstack([ego, ego[::-1] * [1, -1]])
        draw.polygon(shifted(ego), fill=EGO_COLOR)
        for xy, color in ((frame.log_xy_m, LOG_COLOR), (frame.plan_xy_m, PLAN_COLOR)):
            if len(xy):
                pts = shifted(np.vstack([[0.0, 0.0], xy]))
                draw.line(pts, fill=color, width=2)
                for c, r in pts[1:]:
                    draw.ellipse((c - 2, r - 2, c + 2, r + 2), fill=color)
        return img


def render(
    frame: BevFrame, grid: GridSpec, labels: LabelSet, vehicle: VehicleParams | None = None, scale: int = 2
) -> np.ndarray:
    """(H, W, 3) uint8 image: ground truth | prediction panels with boxes, plan (red), log (green)."""
    canvas = BevCanvas(grid, scale)
    colors = palette(labels)
    vehicle = vehicle or VehicleParams()
    left = canvas.panel(frame.gt_top, colors, frame, vehicle, f"GT  {frame.title}")
    right = canvas.panel(frame.pred_top, colors, frame, vehicle, "prediction  plan=red log=green")
    out = Image.new("RGB", (left.width + right.width + 4, left.height), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + 4, 0))
    return np.asarray(out)


def decision_image(
    semantics: np.ndarray | None,
    grid: GridSpec,
    labels: LabelSet | None,
    agents_world: tuple[AgentBox, ...],
    world_from_ego: Pose,
    plan_xy_m: np.ndarray | None,
    vehicle: VehicleParams,
    scale: int = 2,
) -> np.ndarray:
    """(X * scale, Y * scale, 3) uint8 RGB of one decision in its ego frame: the top view of
    ``semantics`` (X, Y, Z) labels of ``labels`` (Occ3D when None; all free when ``semantics`` is None)
    in ``grid``, the world-frame agent boxes ``agents_world`` seen from ``world_from_ego``, the ego box
    and the (T, 2) ego-frame ``plan_xy_m`` (red), no caption."""
    labels = labels or LabelSet.occ3d()
    if semantics is None:
        top = np.full(grid.shape[:2], labels.free_index, np.uint8)
    else:
        top = top_labels(semantics, labels.free_index)
    corners = np.zeros((0, 4, 2), np.float32)
    if agents_world:
        world = np.stack([b.corners_xy() for b in agents_world]).reshape(-1, 2)
        flat = np.column_stack([world, np.zeros(len(world))])
        corners = world_from_ego.inverse().transform_points(flat)[:, :2].reshape(-1, 4, 2).astype(np.float32)
    plan = np.zeros((0, 2), np.float32) if plan_xy_m is None else np.asarray(plan_xy_m, np.float32)
    frame = BevFrame(top, top, corners, plan, np.zeros((0, 2), np.float32), "")
    return np.asarray(BevCanvas(grid, scale).panel(top, palette(labels), frame, vehicle, None))


def save_bev_picture(pred: OccupancyPrediction, points_m: np.ndarray | None, path: str | Path, title: str = "") -> Path:
    """Write a PNG (matplotlib) of ``pred``'s top-view labels (x up, y left, ego frame) with (N, 3+)
    ego-frame LiDAR points as dots and the ego as a red triangle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = pred.grid.range_min_m, pred.grid.range_max_m
    rgb = palette(pred.labels)[top_labels(pred.semantics, pred.labels.free_index)]  # (X, Y, 3) indexed [x, y]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    # image rows = x descending (forward up), columns = y descending (left on the left)
    ax.imshow(rgb[::-1, ::-1], extent=(hi[1], lo[1], lo[0], hi[0]))
    if points_m is not None and len(points_m):
        p = points_m[(np.abs(points_m[:, 0]) < hi[0]) & (np.abs(points_m[:, 1]) < hi[1])]
        ax.scatter(p[:, 1], p[:, 0], s=0.05, c="k", alpha=0.5)
    ax.plot([0], [0], marker="^", color="r", markersize=6)
    ax.set_xlim(hi[1], lo[1])
    ax.set_ylim(lo[0], hi[0])
    ax.set_xlabel("y (m, left)")
    ax.set_ylabel("x (m, forward)")
    ax.set_title(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def save_gif(images: list[np.ndarray], path: str | Path, frame_ms: int = 500) -> Path:
    """Write (H, W, 3) uint8 images as a looping GIF (``frame_ms`` per frame)."""
    if not images:
        raise ValueError(f"{path}: no frames to write")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(im) for im in images]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, optimize=False)
    return p


def save_png(image: np.ndarray, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(p)
    return p
