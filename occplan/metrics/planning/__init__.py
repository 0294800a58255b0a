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

Modules by job: ``config`` (constants), ``bev`` (ST-P3 rasterisation and box collisions), ``samples``
(``PlanningSample`` of a keyframe), ``voxel`` (``col_occ``), ``metric`` (the table, its reductions and
``PlanningMetric``).
"""

from occplan.metrics.planning.bev import (
    CLASS_SETS,
    PEDESTRIAN_PREFIX,
    VEHICLE_PREFIX,
    ego_footprint_offsets,
    footprint_collisions,
    in_class_set,
    polygon_cells,
    rasterise_boxes,
)
from occplan.metrics.planning.config import PlanningMetricConfig
from occplan.metrics.planning.metric import (
    CONVENTIONS,
    PLANNING_SPEC,
    QUANTITIES,
    PlanningMetric,
    PlanningRow,
    planning_row,
    reduce_per_step,
)
from occplan.metrics.planning.samples import PlanningSample, box_in_frame, planning_sample
from occplan.metrics.planning.voxel import log_occ_collisions, occ_box_collision, occ_collisions

__all__ = [
    "CLASS_SETS",
    "CONVENTIONS",
    "PEDESTRIAN_PREFIX",
    "PLANNING_SPEC",
    "QUANTITIES",
    "VEHICLE_PREFIX",
    "PlanningMetric",
    "PlanningMetricConfig",
    "PlanningRow",
    "PlanningSample",
    "box_in_frame",
    "ego_footprint_offsets",
    "footprint_collisions",
    "in_class_set",
    "log_occ_collisions",
    "occ_box_collision",
    "occ_collisions",
    "planning_row",
    "planning_sample",
    "polygon_cells",
    "rasterise_boxes",
    "reduce_per_step",
]
