"""The planner checker: every registered planner must return a valid Trajectory for random valid
inputs, for an empty and a fully occupied grid, and never NaN; it reports the planner's runtime.

``python -m planners.checker [name ...]`` checks the named (default: all registered) planners.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, replace

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Planner, PlannerInput
from occplan.types import GridSpec, LabelSet, OccupancyPrediction, Trajectory
from planners.synthetic import make_init, make_input, random_input, straight_route


@dataclass(frozen=True)
class PlannerCheckReport:
    """Outcome of ``check_planner``: number of plans and wall-time median / max per call (ms)."""

    name: str
    n_calls: int
    median_ms: float
    max_ms: float


def _uniform_grid(label: int, speed_mps: float) -> PlannerInput:
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    occ = OccupancyPrediction(np.full(grid.shape, label, np.uint8), grid, labels)
    return make_input(occ, speed_mps, straight_route())


def edge_inputs() -> dict[str, PlannerInput]:
    """Named corner cases: empty grid (all free, no ground), every voxel occupied (no ground either),
    every voxel ground (drivable everywhere), each at rest and at speed."""
    labels = LabelSet.occ3d()
    out = {}
    for speed in (0.0, 12.0):
        out[f"empty@{speed:g}"] = _uniform_grid(labels.free_index, speed)
        out[f"full_car@{speed:g}"] = _uniform_grid(labels.index("car"), speed)
        out[f"full_road@{speed:g}"] = _uniform_grid(labels.index("driveable_surface"), speed)
    return out


def _check_output(planner: Planner, inp: PlannerInput, out: Trajectory, case: str) -> None:
    where = f"planner {planner.name!r} on {case}"
    if not isinstance(out, Trajectory):
        raise ValidationError(f"{where}: returned {type(out).__name__}, not Trajectory")
    if out.poses.shape != (inp.sampling.num_poses, 3) or not np.all(np.isfinite(out.poses)):
        raise ValidationError(f"{where}: poses {out.poses.shape} must be finite ({inp.sampling.num_poses}, 3)")
    if np.any(np.abs(out.poses[:, 2]) > np.pi + 1e-9):
        raise ValidationError(f"{where}: yaw outside [-pi, pi]")
    if out.sampling != inp.sampling:
        raise ValidationError(f"{where}: sampling {out.sampling} != {inp.sampling}")


def check_planner(planner: Planner, n_random: int = 8, seed: int = 0) -> PlannerCheckReport:
    """Reset ``planner`` with a synthetic init record of its privilege, run it on ``n_random`` random
    valid inputs and on ``edge_inputs()`` (the logged future only for a privileged planner); raise
    ``ValidationError`` naming the planner and the case on the first invalid output."""
    rng = np.random.default_rng(seed)
    cases = {f"random#{i}": random_input(rng) for i in range(n_random)} | edge_inputs()
    planner.reset(make_init(planner.requires_privileged))
    n_before = len(planner.timer.calls_ms)
    for case, inp in cases.items():
        if planner.requires_privileged and inp.log_future is None:
            inp = replace(inp, log_future=Trajectory(np.zeros((inp.sampling.num_poses, 3)), inp.sampling))
        if not planner.requires_privileged:
            inp = replace(inp, log_future=None)
        _check_output(planner, inp, planner.plan(inp), case)
    calls = planner.timer.calls_ms[n_before:]
    return PlannerCheckReport(planner.name, len(calls), float(np.median(calls)), float(np.max(calls)))


def main(argv: list[str]) -> int:
    from planners import PLANNERS

    names = argv or PLANNERS.names()
    for name in names:
        print(json.dumps(asdict(check_planner(PLANNERS.create(name)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
