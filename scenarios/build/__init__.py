"""Procedural worlds: road network, map layers, static meshes, agents and the expert ego.

``build_world(seed, scene_name, duration_s)`` returns an exact :class:`occplan.world.spec.WorldSpec`
(deterministic: only ``np.random.default_rng(seed)`` is used). The pipeline, one module per step:

- ``network``: the layout of the seed (``layout_for_seed``: straight, curve, 3-way and 4-way junctions,
  parking lot), roads with kerb profiles and parking strips, lanes, junction connectors, zebra crossings;
- ``areas``: drivable area, raised sidewalks, road paint, and the NuScenesMap layers (``MapLayers``);
- ``scenery`` + ``mesh``: buildings, walls, hedges, trees, poles and the triangulated ground with kerbs,
  one ``StaticMesh`` with per-face lidarseg labels and albedo;
- ``objects``: parked vehicles, traffic cones and barriers; ``pedestrians``: sidewalk walkers and
  crossing pedestrians; ``traffic``: vehicles and the expert ego (IDM, junction reservations, yielding);
- ``world``: assembly into a ``WorldSpec``, a final no-overlap check, placement at an origin;
- ``situations``: scenario types as builder options (``situations.registry.ScenarioType``,
  ``build_scenario``): a situation stages its actors on the ego's route before the traffic simulation
  (``world.assemble_world``) and a check measures that it happened; without one nothing changes.
"""

from scenarios.build.config import BUILDER_VERSION, LAYOUTS, BuildConfig
from scenarios.build.world import build_world, ego_box_corners, is_moving_track, layout_for_seed, translate_world

__all__ = [
    "BUILDER_VERSION",
    "LAYOUTS",
    "BuildConfig",
    "build_world",
    "ego_box_corners",
    "is_moving_track",
    "layout_for_seed",
    "translate_world",
]
