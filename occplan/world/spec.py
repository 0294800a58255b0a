"""The exact description of a generated world (``WorldSpec``): the contract between the world
builder (``scenarios.build``), the sensor simulator (``occplan.world.generated``) and the
nuScenes-format writer (``scenarios.writer``).

Everything is in the world frame (x east, y north, z up, metres), times in microseconds.
Serialised as ``<dataroot>/occplan_worlds/<scene_name>/world.npz`` (arrays, allow_pickle=False) +
``world.json`` (scalars, names, map layers as WKT), versioned by ``WORLD_FORMAT_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occplan.types._check import check_array

WORLD_FORMAT_VERSION = 1


@dataclass(frozen=True)
class StaticMesh:
    """All static geometry of the world as one triangle mesh.

    ``vertices_m`` (V, 3) float64; ``faces`` (F, 3) int32; ``face_label`` (F,) uint8 nuScenes-lidarseg
    general class of each face; ``face_rgb`` (F, 3) uint8 base albedo used by the camera renderer.
    """

    vertices_m: np.ndarray
    faces: np.ndarray
    face_label: np.ndarray
    face_rgb: np.ndarray

    def __post_init__(self) -> None:
        check_array(self.vertices_m, "StaticMesh.vertices_m", (None, 3), np.float64, finite=True)
        n = len(self.faces)
        check_array(self.faces, "StaticMesh.faces", (None, 3), np.int32)
        check_array(self.face_label, "StaticMesh.face_label", (n,), np.uint8)
        check_array(self.face_rgb, "StaticMesh.face_rgb", (n, 3), np.uint8)


@dataclass(frozen=True)
class AgentTrack:
    """One annotated object (moving or parked vehicle, pedestrian, cyclist, cone, barrier ...).

    Rendered as an oriented box. ``times_us`` (T,) int64 sampled at the simulation rate (at least
    20 Hz, covering the scene; the object exists only inside [times_us[0], times_us[-1]]);
    ``center_m`` (T, 3) float64 box centre; ``yaw_rad`` (T,) float64; ``velocity_mps`` (T, 2) float64;
    ``size_m`` (3,) = (width, length, height) nuScenes order; ``category`` the nuScenes category name
    (e.g. "vehicle.car"); ``label`` the lidarseg general index; ``attribute`` (T,) index into
    ``attribute_names`` per sample (e.g. vehicle.moving / vehicle.parked); ``rgb`` (3,) uint8 albedo.
    """

    instance: str
    category: str
    label: int
    size_m: np.ndarray
    times_us: np.ndarray
    center_m: np.ndarray
    yaw_rad: np.ndarray
    velocity_mps: np.ndarray
    attribute: np.ndarray
    attribute_names: tuple[str, ...]
    rgb: np.ndarray = field(default_factory=lambda: np.array([128, 128, 128], np.uint8))

    def __post_init__(self) -> None:
        t = len(self.times_us)
        f = f"AgentTrack[{self.instance}]"
        check_array(self.times_us, f"{f}.times_us", (None,), np.int64)
        check_array(self.size_m, f"{f}.size_m", (3,), np.float64, finite=True)
        check_array(self.center_m, f"{f}.center_m", (t, 3), np.float64, finite=True)
        check_array(self.yaw_rad, f"{f}.yaw_rad", (t,), np.float64, finite=True)
        check_array(self.velocity_mps, f"{f}.velocity_mps", (t, 2), np.float64, finite=True)
        check_array(self.attribute, f"{f}.attribute", (t,), np.int16)


@dataclass(frozen=True)
class EgoTrack:
    """The expert ego log at the simulation rate: rear-axle pose (nuScenes ego_pose convention).

    ``times_us`` (T,) int64; ``xy_m`` (T, 2); ``z_m`` (T,); ``yaw_rad`` (T,); ``speed_mps`` (T,).
    """

    times_us: np.ndarray
    xy_m: np.ndarray
    z_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray


@dataclass(frozen=True)
class MapLayers:
    """Vector map for ``maps/expansion/<location>.json`` (NuScenesMap layers), world frame, as WKT.

    Polygon layers: drivable_area, road_segment, ped_crossing, walkway, carpark_area;
    lanes: list of (lane polygon WKT, centreline LineString WKT) for lane and lane_connector;
    line layers: stop_line (polygons), lane_divider, road_divider (LineStrings).
    """

    drivable_area: tuple[str, ...]
    road_segment: tuple[str, ...]
    lane: tuple[tuple[str, str], ...]
    lane_connector: tuple[tuple[str, str], ...]
    ped_crossing: tuple[str, ...]
    walkway: tuple[str, ...]
    stop_line: tuple[str, ...]
    lane_divider: tuple[str, ...]
    road_divider: tuple[str, ...]
    carpark_area: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorldSpec:
    """A complete generated scene: static mesh, agents, expert ego log, map, and its identity."""

    scene_name: str
    location: str
    seed: int
    start_time_us: int
    duration_s: float
    static: StaticMesh
    agents: tuple[AgentTrack, ...]
    ego: EgoTrack
    map: MapLayers
    route_xy_m: np.ndarray  # (K, 2) the expert's route centreline, world frame
    format_version: int = WORLD_FORMAT_VERSION
