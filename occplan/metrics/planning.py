"""Open-loop planning metrics (nuScenes ST-P3 / UniAD / VAD protocols) from a per-(sample, step) table.

Geometry follows ST-P3 ``PlanningMetric`` (copied verbatim into UniAD), in the ego frame of the
planning time (x forward, y left):

* BEV grid [-50, 50) m at 0.5 m (200 x 200), indexed [x, y]; cell centre offset ``bx = -49.75``;
* ego footprint 4.084 m x 1.85 m shifted 0.5 m forward, rasterised once with ``skimage.draw.polygon``
  semantics (``polygon_cells``) into cell offsets, translated to each waypoint by
  ``int(offset + waypoint / 0.5)`` (waypoints cast to float32 as the reference's tensors), clipped to
  the grid, **not rotated**;
* GT agent boxes of each future keyframe, moved into the planning-time ego frame, rasterised as the
  references do: bottom corners ``round((p + 50) / 0.5)`` filled with ``cv2.fillPoly``;
* a step collides when any GT cell under the footprint is occupied; steps where the logged
  trajectory's footprint already collides are removed from the numerator, the denominator keeps
  every sample.

Class sets: ``veh`` = categories ``vehicle.*`` (UniAD's set; UniAD itself also drops the two
``vehicle.emergency.*`` categories, which its name mapping does not know), ``vehped`` = ``veh`` +
``human.pedestrian.*`` (ST-P3, VAD). Simplifications: no visibility filter and no "seen in the past"
filter on future boxes (ST-P3 applies both).

Reductions of the per-step rates, each key naming its convention (a table never mixes them):

* ``plan/stp3/<q>_{1,2,3}s``: ST-P3 / VAD, mean of the per-step rates over the steps up to the
  horizon (ST-P3 ``evaluate.py`` feeds the first 2k steps to a metric and takes ``value.mean()``);
* ``plan/uniad/<q>_{1,2,3}s``: UniAD, the per-step rate at the horizon step (UniAD
  ``planning_evaluation_strategy="uniad"``: ``value[i]``);
* ``plan/<conv>/<q>_avg``: mean of that convention's 1, 2 and 3 s values;

for ``q`` in ``l2`` (m), ``col_veh``, ``col_vehped``, ``col_occ`` (%). Both conventions share the
per-step table, the GT-collision exclusion and the denominator. Samples: those with a full 3 s logged
future (the VAD set, ``plan/n_samples``); ``plan/n_samples_all`` counts every sample given.

``col_occ`` (OccPlan's voxel check): the ego box (``VehicleParams`` length, width and
rear-axle-to-centre offset) rotated to the planned heading is placed in the GT occupancy frame of the
future keyframe (through the world poses); it collides when the centre of a voxel column holding an
obstacle lies inside the box footprint: an occupied non-ground voxel in the band above the column's
own ground (``occplan.rules.obstacles``, the simulator's rule; ego-frame grids only). Its per-step
rate is over the samples that have GT occupancy for that step (no GT-collision exclusion); a reduction
over a step without any is NaN.

Human reference (``compute_human``, keys ``ref/human/plan/<conv>/<q>_<h>s``): the logged trajectory
scored by the same code over the same samples. Its L2 is 0; its box collisions are the logged
footprint's own (the steps the exclusion removes from the plan's numerator); its ``col_occ`` is the
voxel check of the logged poses (needs ``PlanningSample.log_yaw_rad``). A plan equal to the log
therefore scores 0 box collisions while the human row shows how often the log itself "collides".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.rules.obstacles import contact_inset_m, obstacle_columns
from occplan.types import AgentBox, Frame, OccupancyFrame, Pose, Scenario, Trajectory, VehicleParams
from occplan.types._check import check_array

VEHICLE_PREFIX = "vehicle."
PEDESTRIAN_PREFIX = "human.pedestrian."


@dataclass(frozen=True)
class PlanningMetricConfig:
    """ST-P3 constants, horizons and the voxel-check parameters."""

    bev_half_range_m: float = 50.0
    bev_cell_m: float = 0.5
    ego_length_m: float = 4.084
    ego_width_m: float = 1.85
    ego_forward_shift_m: float = 0.5
    num_steps: int = 6
    interval_s: float = 0.5
    horizons_s: tuple[float, ...] = (1.0, 2.0, 3.0)
    vehicle: VehicleParams = field(default_factory=VehicleParams)

    @property
    def bev_size(self) -> int:
        return round(2 * self.bev_half_range_m / self.bev_cell_m)

    def horizon_steps(self) -> list[int]:
        """1-based step index of each horizon (1 s -> step 2 at 0.5 s)."""
        steps = [round(h / self.interval_s) for h in self.horizons_s]
        if any(s < 1 or s > self.num_steps for s in steps):
            raise ValidationError(f"PlanningMetricConfig.horizons_s: {self.horizons_s} outside the trajectory")
        return steps


# --- rasterisation --------------------------------------------------------------------------
def polygon_cells(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Integer (row, col) points covered by a polygon, as ``skimage.draw.polygon`` (>= 0.19).

    Candidates are the integer points of ``[max(0, min), ceil(max)]`` on each axis (clipped to
    ``shape``); a point is covered when O'Rourke's crossing test says inside, on an edge or on a
    vertex (vertex tolerance 1e-12). Returns (rr, cc) int64 in row-major order.
    """
    r = np.asarray(rows, dtype=np.float64)
    c = np.asarray(cols, dtype=np.float64)
    minr, maxr = int(max(0, r.min())), int(np.ceil(r.max()))
    minc, maxc = int(max(0, c.min())), int(np.ceil(c.max()))
    if shape is not None:
        maxr, maxc = min(shape[0] - 1, maxr), min(shape[1] - 1, maxc)
    pr, pc = np.meshgrid(np.arange(minr, maxr + 1), np.arange(minc, maxc + 1), indexing="ij")
    pr, pc = pr.ravel(), pc.ravel()
    # x = column, y = row as in skimage's point_in_polygon(cols, rows, c, r)
    x0 = c[:, None] - pc[None]
    y0 = r[:, None] - pr[None]
    x1, y1 = np.roll(x0, 1, axis=0), np.roll(y0, 1, axis=0)
    vertex = ((np.abs(x0) < 1e-12) & (np.abs(y0) < 1e-12)).any(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = (x0 * y1 - x1 * y0) / (y1 - y0)
    r_cross = (((y0 > 0) != (y1 > 0)) & (xi > 0)).sum(axis=0)
    l_cross = (((y0 < 0) != (y1 < 0)) & (xi < 0)).sum(axis=0)
    edge = (r_cross % 2) != (l_cross % 2)
    inside = (r_cross % 2) == 1
    keep = vertex | edge | inside
    return pr[keep].astype(np.int64), pc[keep].astype(np.int64)


def ego_footprint_offsets(cfg: PlanningMetricConfig) -> np.ndarray:
    """(K, 2) int64 (row, col) cells of the ST-P3 ego footprint at the origin (32 cells by default)."""
    h, w, s = cfg.ego_length_m, cfg.ego_width_m, cfg.ego_forward_shift_m
    pts = np.array([[-h / 2 + s, w / 2], [h / 2 + s, w / 2], [h / 2 + s, -w / 2], [-h / 2 + s, -w / 2]])
    bx = -cfg.bev_half_range_m + cfg.bev_cell_m / 2
    pts = (pts - bx) / cfg.bev_cell_m
    rr, cc = polygon_cells(pts[:, 0], pts[:, 1])
    return np.stack([rr, cc], axis=1)


def footprint_collisions(
    xy_m: np.ndarray, bev: np.ndarray, offsets: np.ndarray, cfg: PlanningMetricConfig
) -> np.ndarray:
    """ST-P3 ``evaluate_single_coll``: (T, 2) waypoints, (T, H, W) bool GT BEV -> (T,) bool."""
    steps = (xy_m.astype(np.float32) / np.float32(cfg.bev_cell_m)).astype(np.float64)
    cells = (steps[:, None, :] + offsets[None]).astype(np.int32)
    r = np.clip(cells[..., 0], 0, bev.shape[1] - 1)
    c = np.clip(cells[..., 1], 0, bev.shape[2] - 1)
    return bev[np.arange(len(xy_m))[:, None], r, c].any(axis=1)


def rasterise_boxes(boxes: Sequence[AgentBox], cfg: PlanningMetricConfig) -> np.ndarray:
    """(H, W) bool BEV of the boxes' bottom rectangles (ego frame), ST-P3 / UniAD style:
    vertices ``round((p + 50) / 0.5)`` filled with ``cv2.fillPoly`` (pixel (row, col) = (x, y))."""
    import cv2

    n = cfg.bev_size
    bev = np.zeros((n, n), dtype=np.uint8)
    for box in boxes:
        pts = np.round((box.corners_xy() + cfg.bev_half_range_m) / cfg.bev_cell_m).astype(np.int32)
        cv2.fillPoly(bev, [pts[:, ::-1].copy()], 1)
    return bev.astype(bool)


def in_class_set(category: str, class_set: str) -> bool:
    """``veh``: vehicle.* (not the ego); ``vehped``: also human.pedestrian.*."""
    vehicle = category.startswith(VEHICLE_PREFIX) and category != "vehicle.ego"
    if class_set == "veh":
        return vehicle
    if class_set == "vehped":
        return vehicle or category.startswith(PEDESTRIAN_PREFIX)
    raise ValidationError(f"class set {class_set!r}: expected 'veh' or 'vehped'")


# --- samples --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanningSample:
    """One open-loop sample, everything in the ego frame of the planning time unless stated.

    ``plan`` (T, 3) planned (x, y, yaw); ``log_xy_m`` (T, 2) logged ego future with ``log_valid``
    (T,) bool; ``agents`` one tuple of GT boxes per future step (in the planning-time ego frame);
    ``occupancy`` one GT OccupancyFrame (own frame, ``world_from_grid`` set) or None per step, or
    None; ``world_from_ego`` the planning-time ego pose (needed with ``occupancy``); ``log_yaw_rad``
    (T,) logged headings (rad, NaN allowed where the log is invalid), or None: with ``occupancy`` they
    give the logged trajectory's own voxel check (the human reference's ``col_occ``).
    """

    token: str
    plan: np.ndarray
    log_xy_m: np.ndarray
    log_valid: np.ndarray
    agents: tuple[tuple[AgentBox, ...], ...]
    occupancy: tuple[OccupancyFrame | None, ...] | None = None
    world_from_ego: Pose | None = None
    log_yaw_rad: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = len(self.log_valid)
        check_array(self.plan, f"PlanningSample[{self.token}].plan", (t, 3), np.float64, finite=True)
        check_array(self.log_xy_m, f"PlanningSample[{self.token}].log_xy_m", (t, 2), np.float64)
        check_array(self.log_valid, f"PlanningSample[{self.token}].log_valid", (t,), np.bool_)
        if not np.isfinite(self.log_xy_m[self.log_valid]).all():
            raise ValidationError(f"PlanningSample[{self.token}].log_xy_m: non-finite valid waypoints")
        if len(self.agents) != t:
            raise ValidationError(f"PlanningSample[{self.token}].agents: {len(self.agents)} steps, expected {t}")
        if self.occupancy is not None:
            if len(self.occupancy) != t:
                raise ValidationError(
                    f"PlanningSample[{self.token}].occupancy: {len(self.occupancy)} steps, expected {t}"
                )
            if self.world_from_ego is None:
                raise ValidationError(f"PlanningSample[{self.token}].world_from_ego: required with occupancy")
        if self.log_yaw_rad is not None:
            check_array(self.log_yaw_rad, f"PlanningSample[{self.token}].log_yaw_rad", (t,), np.float64)
            if not np.isfinite(self.log_yaw_rad[self.log_valid]).all():
                raise ValidationError(f"PlanningSample[{self.token}].log_yaw_rad: non-finite valid headings")


def box_in_frame(box: AgentBox, a_from_b: Pose) -> AgentBox:
    """The box moved from frame b to frame a (centre, yaw and planar velocity)."""
    vel = a_from_b.rotation[:2, :2] @ box.velocity_mps
    return AgentBox(
        a_from_b.transform_points(box.center_m[None])[0], box.size_m.copy(), float(box.yaw_rad + a_from_b.yaw_rad),
        vel, box.category, box.instance, box.attributes, box.num_lidar_pts,
    )  # fmt: skip


def planning_sample(
    scenario: Scenario,
    index: int,
    plan: Trajectory,
    occupancy_of: Callable[[Frame], OccupancyFrame | None] | None = None,
) -> PlanningSample:
    """Build the sample of keyframe ``index``: logged future (positions and headings), GT boxes of the
    next keyframes moved into this keyframe's ego frame, and (with ``occupancy_of``) their GT occupancy."""
    frames = scenario.frames
    frame = frames[index]
    n = len(frame.future_valid)
    ego_from_world = frame.world_from_ego.inverse()
    agents, occ = [], []
    for k in range(1, n + 1):
        if index + k < len(frames):
            nxt = frames[index + k]
            rel = ego_from_world @ nxt.world_from_ego
            agents.append(tuple(box_in_frame(b, rel) for b in nxt.agents))
            occ.append(occupancy_of(nxt) if occupancy_of is not None else None)
        else:
            agents.append(())
            occ.append(None)
    return PlanningSample(
        frame.sample_token, plan.poses, frame.future.xy_m.copy(), frame.future_valid.copy(), tuple(agents),
        tuple(occ) if occupancy_of is not None else None, frame.world_from_ego, frame.future.poses[:, 2].copy(),
    )  # fmt: skip


# --- voxel check ----------------------------------------------------------------------------
def occ_box_collision(
    box_center_xy_m: np.ndarray, box_yaw_rad: float, occ: OccupancyFrame, grid_from_ego: Pose, cfg: PlanningMetricConfig
) -> bool:
    """True when the ego box touches a voxel column holding an obstacle (``occplan.rules.obstacles``:
    occupied, not ground, in the band above the column's ground; the contact rule of the simulator).

    ``box_center_xy_m`` / ``box_yaw_rad``: ego box centre and heading in the planning-time ego frame;
    ``grid_from_ego`` maps that frame into ``occ``'s grid frame.
    """
    grid = occ.grid
    length, width = cfg.vehicle.length_m, cfg.vehicle.width_m
    c = grid_from_ego.transform_points(np.array([[box_center_xy_m[0], box_center_xy_m[1], 0.0]]))[0]
    yaw = box_yaw_rad + grid_from_ego.yaw_rad
    half = np.hypot(length, width) / 2
    lo = np.floor((c[:2] - half - np.asarray(grid.range_min_m[:2])) / grid.voxel_size_m).astype(int)
    hi = np.floor((c[:2] + half - np.asarray(grid.range_min_m[:2])) / grid.voxel_size_m).astype(int)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, np.asarray(grid.shape[:2]) - 1)
    if np.any(hi < lo):
        return False
    solid = obstacle_columns(occ.semantics[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1], occ.labels, grid.voxel_size_m)
    if not solid.any():
        return False
    ii, jj = np.nonzero(solid)
    x = grid.range_min_m[0] + (ii + lo[0] + 0.5) * grid.voxel_size_m - c[0]
    y = grid.range_min_m[1] + (jj + lo[1] + 0.5) * grid.voxel_size_m - c[1]
    cos, sin = np.cos(yaw), np.sin(yaw)
    lx, ly = x * cos + y * sin, -x * sin + y * cos
    inset = contact_inset_m(grid.voxel_size_m)
    return bool(np.any((np.abs(lx) <= length / 2 - inset) & (np.abs(ly) <= width / 2 - inset)))


def occ_collisions(sample: PlanningSample, cfg: PlanningMetricConfig) -> np.ndarray:
    """(T,) float: 1/0 voxel-level collision of the planned ego box per step, NaN without GT occupancy."""
    out = np.full(len(sample.log_valid), np.nan)
    if sample.occupancy is None:
        return out
    ahead = cfg.vehicle.rear_axle_to_center_m
    for t, occ in enumerate(sample.occupancy):
        if occ is None:
            continue
        if occ.world_from_grid is None:
            raise ValidationError(f"PlanningSample[{sample.token}].occupancy[{t}]: world_from_grid is None")
        if occ.grid.frame != "ego":  # heights above ground are read as ego-frame z
            raise ValidationError(
                f"PlanningSample[{sample.token}].occupancy[{t}]: grid {occ.grid.name} is not ego-frame"
            )
        x, y, yaw = sample.plan[t]
        centre = np.array([x + ahead * np.cos(yaw), y + ahead * np.sin(yaw)])
        grid_from_ego = occ.world_from_grid.inverse() @ sample.world_from_ego
        out[t] = float(occ_box_collision(centre, yaw, occ, grid_from_ego, cfg))
    return out


# --- table and metric -----------------------------------------------------------------------
@dataclass(frozen=True)
class PlanningRow:
    """Per-step values of one sample: L2 (m), box collisions per class set of the plan and of the
    logged trajectory, voxel collisions of the plan and of the logged trajectory (NaN where unknown)."""

    token: str
    full_future: bool
    l2_m: np.ndarray
    col: dict[str, np.ndarray]
    gt_col: dict[str, np.ndarray]
    col_occ: np.ndarray
    gt_col_occ: np.ndarray


CLASS_SETS = ("veh", "vehped")
CONVENTIONS = ("stp3", "uniad")
QUANTITIES = ("l2", *(f"col_{cs}" for cs in CLASS_SETS), "col_occ")


def log_occ_collisions(sample: PlanningSample, cfg: PlanningMetricConfig) -> np.ndarray:
    """(T,) float: the voxel check of the logged poses (``occ_collisions`` with the log as the plan),
    NaN where the log is invalid or without GT occupancy or logged headings."""
    valid = sample.log_valid
    if sample.occupancy is None or sample.log_yaw_rad is None:
        return np.full(len(valid), np.nan)
    poses = np.where(valid[:, None], np.column_stack([sample.log_xy_m, sample.log_yaw_rad]), 0.0)
    occupancy = tuple(o if ok else None for o, ok in zip(sample.occupancy, valid, strict=True))
    return occ_collisions(replace(sample, plan=poses, occupancy=occupancy), cfg)


def planning_row(sample: PlanningSample, cfg: PlanningMetricConfig, offsets: np.ndarray | None = None) -> PlanningRow:
    """Evaluate one sample at every step."""
    offsets = ego_footprint_offsets(cfg) if offsets is None else offsets
    valid = sample.log_valid
    plan_xy = sample.plan[:, :2]
    l2 = np.where(valid, np.linalg.norm(plan_xy - np.where(valid[:, None], sample.log_xy_m, 0.0), axis=1), np.nan)
    col, gt_col = {}, {}
    for cs in CLASS_SETS:
        bev = np.stack(
            [rasterise_boxes([b for b in boxes if in_class_set(b.category, cs)], cfg) for boxes in sample.agents]
        )
        col[cs] = footprint_collisions(plan_xy, bev, offsets, cfg)
        log_xy = np.where(valid[:, None], sample.log_xy_m, 0.0)
        gt_col[cs] = footprint_collisions(log_xy, bev, offsets, cfg) & valid
    return PlanningRow(
        sample.token, bool(valid.all()), l2, col, gt_col, occ_collisions(sample, cfg), log_occ_collisions(sample, cfg)
    )


def reduce_per_step(rates: dict[str, np.ndarray], cfg: PlanningMetricConfig) -> dict[str, float]:
    """Per-step rates (``QUANTITIES`` -> (T,)) to ``<conv>/<q>_<h>s`` and ``<conv>/<q>_avg``:
    ``stp3`` = mean over steps 1..horizon, ``uniad`` = value at the horizon step, ``avg`` = mean of
    the horizons' values of that convention (NaN propagates)."""
    steps = cfg.horizon_steps()
    out: dict[str, float] = {}
    for q in QUANTITIES:
        r = rates[q]
        for conv in CONVENTIONS:
            vals = [float(np.mean(r[:s])) if conv == "stp3" else float(r[s - 1]) for s in steps]
            for h, v in zip(cfg.horizons_s, vals, strict=True):
                out[f"{conv}/{q}_{h:g}s"] = v
            out[f"{conv}/{q}_avg"] = float(np.mean(vals))
    return out


class PlanningMetric(Metric):
    """Streaming open-loop planning metric: ``update(PlanningSample)``; ``compute()`` -> ``plan/*``
    keys; ``compute_human()`` -> ``ref/human/plan/*`` keys of the logged trajectory.

    ``rows`` keeps the per-(sample, step) table for inspection.
    """

    def __init__(self, config: PlanningMetricConfig | None = None) -> None:
        self.config = config or PlanningMetricConfig()
        self._offsets = ego_footprint_offsets(self.config)
        self.rows: list[PlanningRow] = []

    def reset(self) -> None:
        self.rows = []

    def update(self, record: PlanningSample) -> None:
        if len(record.log_valid) != self.config.num_steps:
            raise ValidationError(
                f"PlanningSample[{record.token}]: {len(record.log_valid)} steps, expected {self.config.num_steps}"
            )
        self.rows.append(planning_row(record, self.config, self._offsets))

    def per_step(self) -> dict[str, np.ndarray]:
        """Per-step rates of the plan over the full-future samples: ``l2`` (m) and ``col_<set>`` (%,
        after the GT-collision exclusion), plus ``col_occ`` (% over samples with GT occupancy at the step)."""
        return self._per_step(human=False)

    def per_step_human(self) -> dict[str, np.ndarray]:
        """``per_step`` of the logged trajectory over the same samples: ``l2`` 0, ``col_<set>`` its own
        box collisions (%), ``col_occ`` its own voxel collisions (% over the steps where known)."""
        return self._per_step(human=True)

    def _per_step(self, human: bool) -> dict[str, np.ndarray]:
        rows = [r for r in self.rows if r.full_future]
        n, t = len(rows), self.config.num_steps
        if n == 0:
            return {q: np.full(t, np.nan) for q in QUANTITIES}
        out = {"l2": np.zeros(t) if human else np.sum([r.l2_m for r in rows], axis=0) / n}
        for cs in CLASS_SETS:
            hits = np.sum([r.gt_col[cs] if human else r.col[cs] & ~r.gt_col[cs] for r in rows], axis=0)
            out[f"col_{cs}"] = hits / n * 100
        occ = np.array([r.gt_col_occ if human else r.col_occ for r in rows])
        known = np.isfinite(occ).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["col_occ"] = np.nansum(occ, axis=0) / known * 100
        return out

    def compute(self) -> dict[str, float]:
        """``plan/{stp3,uniad}/<q>_{1,2,3}s``, ``plan/<conv>/<q>_avg``, ``plan/n_samples``, ``plan/n_samples_all``."""
        out = {f"plan/{k}": v for k, v in reduce_per_step(self.per_step(), self.config).items()}
        out["plan/n_samples"] = float(sum(r.full_future for r in self.rows))
        out["plan/n_samples_all"] = float(len(self.rows))
        return out

    def compute_human(self) -> dict[str, float]:
        """``ref/human/plan/{stp3,uniad}/<q>_{1,2,3}s`` and ``..._avg`` of the logged trajectory."""
        return {f"ref/human/plan/{k}": v for k, v in reduce_per_step(self.per_step_human(), self.config).items()}

    def state(self) -> dict:
        """JSON-able state (the per-(sample, step) table, NaN as None); ``merge_state`` appends it."""

        def floats(a: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in a]

        return {
            "rows": [
                {
                    "token": r.token,
                    "full_future": r.full_future,
                    "l2_m": floats(r.l2_m),
                    "col": {cs: r.col[cs].tolist() for cs in CLASS_SETS},
                    "gt_col": {cs: r.gt_col[cs].tolist() for cs in CLASS_SETS},
                    "col_occ": floats(r.col_occ),
                    "gt_col_occ": floats(r.gt_col_occ),
                }
                for r in self.rows
            ]
        }

    def merge_state(self, state: dict) -> None:
        """Append the rows of a ``state()`` (None read back as NaN)."""
        t = self.config.num_steps
        for r in state["rows"]:
            row = PlanningRow(
                r["token"], bool(r["full_future"]), np.asarray(r["l2_m"], dtype=np.float64),
                {cs: np.asarray(r["col"][cs], dtype=bool) for cs in CLASS_SETS},
                {cs: np.asarray(r["gt_col"][cs], dtype=bool) for cs in CLASS_SETS},
                np.asarray(r["col_occ"], dtype=np.float64), np.asarray(r["gt_col_occ"], dtype=np.float64),
            )  # fmt: skip
            if len(row.l2_m) != t:
                raise ValidationError(f"PlanningMetric.merge_state: row {row.token} has {len(row.l2_m)} steps, not {t}")
            self.rows.append(row)
