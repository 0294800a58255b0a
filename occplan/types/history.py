"""The recorded history of a closed-loop episode: what closed-loop metrics are computed from.

Written as ``episodes/<scenario>.npz`` (plain arrays, no pickle) by the harness. Rows are the
simulation substeps (10 Hz), row 0 the initial state. World frame throughout:

- ``time_s`` (T,) seconds since the scenario's first keyframe (``start_time_us``);
- ``ego_center`` (T, 3) x, y (m), yaw (rad) of the ego box centre; ``ego_size`` (3,) length, width,
  height (m); ``ego_rear_axle_to_center_m`` the rear axle's distance behind the box centre;
  ``ego_velocity`` (T, 2) and ``ego_acceleration`` (T, 2) (m/s, m/s^2) of the rear axle
  (nuPlan's dynamic-state convention: acceleration = longitudinal along the heading + v * yaw rate
  across it); ``ego_yaw_rate`` (T,) rad/s;
- ``agent_token`` (N,) and ``agent_class`` (N,) strings (instance token, nuScenes category);
  ``agent_boxes`` (T, N, 5) x, y, yaw, length, width, NaN where the agent is absent;
  ``agent_velocity`` (T, N, 2) m/s, NaN where absent;
- ``expert_center`` (T, 3) the logged ego box centre at the same times;
- ``route_xy`` (K, 2) the route as given to the planner ((0, 2) without a map route);
- ``static_contact_index`` (M,) rows and ``static_contact_xy`` (M, 2) world xy of the static obstacle
  voxel columns under the ego box at those rows (``occplan.rules.obstacles``);
- ``drivable_wkb`` and ``lanes_wkb`` (B,) uint8: the map's drivable area and its lane polygons
  (lanes and lane connectors, one polygon each) as shapely WKB, empty without them;
- ``scenario``, ``mode`` strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from occplan.errors import DataError, ValidationError
from occplan.types._check import check_array, check_finite_scalar

HISTORY_FORMAT_VERSION = 1


@dataclass(frozen=True)
class EpisodeHistory:
    """A closed-loop episode at every simulation substep (fields: see the module docstring)."""

    scenario: str
    mode: str
    start_time_us: int
    time_s: np.ndarray
    ego_center: np.ndarray
    ego_size: np.ndarray
    ego_rear_axle_to_center_m: float
    ego_velocity: np.ndarray
    ego_acceleration: np.ndarray
    ego_yaw_rate: np.ndarray
    agent_token: np.ndarray
    agent_class: np.ndarray
    agent_boxes: np.ndarray
    agent_velocity: np.ndarray
    expert_center: np.ndarray
    route_xy: np.ndarray
    static_contact_index: np.ndarray
    static_contact_xy: np.ndarray
    drivable_wkb: np.ndarray
    lanes_wkb: np.ndarray

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num_steps(self) -> int:
        return len(self.time_s)

    @property
    def dt_s(self) -> float:
        return float(np.median(np.diff(self.time_s))) if self.num_steps > 1 else 0.1

    def validate(self) -> None:
        name = f"EpisodeHistory[{self.scenario}]"
        t, n = len(self.time_s), len(self.agent_token)
        check_array(self.time_s, f"{name}.time_s", (None,), np.float64, finite=True)
        if t == 0:
            raise ValidationError(f"{name}.time_s: empty episode")
        if np.any(np.diff(self.time_s) <= 0):
            raise ValidationError(f"{name}.time_s: not strictly increasing")
        check_array(self.ego_center, f"{name}.ego_center", (t, 3), np.float64, finite=True)
        check_array(self.ego_size, f"{name}.ego_size", (3,), np.float64, finite=True)
        check_finite_scalar(self.ego_rear_axle_to_center_m, f"{name}.ego_rear_axle_to_center_m")
        check_array(self.ego_velocity, f"{name}.ego_velocity", (t, 2), np.float64, finite=True)
        check_array(self.ego_acceleration, f"{name}.ego_acceleration", (t, 2), np.float64, finite=True)
        check_array(self.ego_yaw_rate, f"{name}.ego_yaw_rate", (t,), np.float64, finite=True)
        for field_name in ("agent_token", "agent_class"):
            a = getattr(self, field_name)
            if a.ndim != 1 or (len(a) and a.dtype.kind != "U"):
                raise ValidationError(f"{name}.{field_name}: expected a (N,) str array, got {a.dtype} {a.shape}")
        if len(self.agent_class) != n:
            raise ValidationError(f"{name}.agent_class: {len(self.agent_class)} entries for {n} agent tokens")
        check_array(self.agent_boxes, f"{name}.agent_boxes", (t, n, 5), np.float64)
        check_array(self.agent_velocity, f"{name}.agent_velocity", (t, n, 2), np.float64)
        check_array(self.expert_center, f"{name}.expert_center", (t, 3), np.float64, finite=True)
        check_array(self.route_xy, f"{name}.route_xy", (None, 2), np.float64, finite=True)
        check_array(self.static_contact_index, f"{name}.static_contact_index", (None,), np.int64)
        m = len(self.static_contact_index)
        check_array(self.static_contact_xy, f"{name}.static_contact_xy", (m, 2), np.float64, finite=True)
        if m and (self.static_contact_index.min() < 0 or self.static_contact_index.max() >= t):
            raise ValidationError(f"{name}.static_contact_index: rows outside 0..{t - 1}")
        check_array(self.drivable_wkb, f"{name}.drivable_wkb", (None,), np.uint8)
        check_array(self.lanes_wkb, f"{name}.lanes_wkb", (None,), np.uint8)

    # --- files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.npz, atomically: a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        arrays["format_version"] = np.asarray(HISTORY_FORMAT_VERSION)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> EpisodeHistory:
        """Read a file written by ``save``; DataError naming the file and field on bad content."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable episode history ({e})") from e
        version = int(data.pop("format_version", -1))
        if version != HISTORY_FORMAT_VERSION:
            raise DataError(f"{path}: field 'format_version' is {version}, expected {HISTORY_FORMAT_VERSION}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise DataError(f"{path}: missing fields {missing}")
        values = {n: data[n] for n in names}
        for n in ("scenario", "mode"):
            values[n] = str(values[n])
        values["start_time_us"] = int(values["start_time_us"])
        values["ego_rear_axle_to_center_m"] = float(values["ego_rear_axle_to_center_m"])
        try:
            return cls(**values)
        except ValidationError as e:
            raise DataError(f"{path}: {e}") from e
