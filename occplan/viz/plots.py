"""Static plots of a run's summary: per-class IoU bars and planning metrics against the horizon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_class(summary: dict[str, Any], prefix: str) -> dict[str, float]:
    """``{class: value}`` of the summary keys ``<prefix><class>`` (None -> NaN)."""
    items = ((k[len(prefix) :], v) for k, v in summary.items() if k.startswith(prefix))
    return {name: float("nan") if v is None else float(v) for name, v in items}


def iou_bars(summary: dict[str, Any], path: str | Path) -> Path:
    """Horizontal bars of per-class occupancy IoU (``occ/iou/<class>``) and RayIoU
    (``occ/rayiou/<class>``, mean over thresholds), x100; classes in neither GT nor prediction show
    no bar."""
    plt = _pyplot()
    occ = per_class(summary, "occ/iou/")
    ray = per_class(summary, "occ/rayiou/")
    classes = [c for c in occ if c != "free"] or list(ray)
    y = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(classes) + 1.5))
    ax.barh(y - 0.2, [occ.get(c, np.nan) for c in classes], height=0.4, label="occ IoU (mIoU protocol)")
    ax.barh(y + 0.2, [ray.get(c, np.nan) for c in classes], height=0.4, label="RayIoU (mean of 1/2/4 m)")
    ax.set_yticks(y, classes)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU x100")
    miou, rayiou = summary.get("occ/miou", summary.get("occ/miou_nomask")), summary.get("occ/rayiou")
    ax.set_title(f"per-class IoU  (mIoU {_num(miou)}, RayIoU {_num(rayiou)})")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def horizon_curves(
    per_step: dict[str, np.ndarray], interval_s: float, path: str | Path, human: dict[str, np.ndarray] | None = None
) -> Path:
    """L2 (m) and collision rates (%) against the planning horizon, from ``PlanningMetric.per_step``
    (per-step rates, before the ST-P3 / UniAD reductions); ``human`` (``per_step_human``) adds the
    logged trajectory's own collision rates as dashed lines."""
    plt = _pyplot()
    t = (np.arange(len(per_step["l2"])) + 1) * interval_s
    fig, (ax_l2, ax_col) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_l2.plot(t, per_step["l2"], marker="o")
    ax_l2.set(xlabel="horizon (s)", ylabel="L2 (m)", title="L2 to the logged trajectory")
    for key, label in (("col_veh", "box, vehicles"), ("col_vehped", "box, veh + ped"), ("col_occ", "voxels")):
        line = ax_col.plot(t, per_step[key], marker="o", label=label)[0]
        if human is not None:
            ax_col.plot(t, human[key], linestyle="--", color=line.get_color(), label=f"{label}, human log")
    ax_col.set(xlabel="horizon (s)", ylabel="collision rate (%)", title="collisions per step")
    ax_col.legend(fontsize=8)
    for ax in (ax_l2, ax_col):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def _num(v: Any) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.1f}"


def _save(fig, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=100)
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return p
