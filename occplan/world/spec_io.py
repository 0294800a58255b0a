"""Save and load a ``WorldSpec`` as ``world.json`` + ``world.npz`` (no pickle, byte-reproducible).

Format (``format_version`` = ``WORLD_FORMAT_VERSION``):

``world.json`` (UTF-8, sorted keys)::

    {"format": "occplan-world", "format_version": 1, "scene_name": str, "location": str, "seed": int,
     "start_time_us": int, "duration_s": float,
     "agents": [{"instance": str, "category": str, "label": int, "attribute_names": [str, ...]}, ...],
     "map": {"drivable_area": [wkt, ...], "lane": [[polygon_wkt, centreline_wkt], ...], ...}}

``world.npz`` (arrays, loaded with ``allow_pickle=False``; members in a fixed order, fixed timestamps):

==========================  ===========  =========  ===============================================
key                         shape        dtype      meaning
==========================  ===========  =========  ===============================================
static_vertices_m           (V, 3)       float64    StaticMesh.vertices_m
static_faces                (F, 3)       int32      StaticMesh.faces
static_face_label           (F,)         uint8      StaticMesh.face_label (lidarseg general)
static_face_rgb             (F, 3)       uint8      StaticMesh.face_rgb
ego_times_us                (T,)         int64      EgoTrack
ego_xy_m / ego_z_m          (T, 2) (T,)  float64    EgoTrack (rear axle)
ego_yaw_rad / ego_speed_mps (T,)         float64    EgoTrack
route_xy_m                  (K, 2)       float64    WorldSpec.route_xy_m
agent_offsets               (A + 1,)     int64      rows of agent a are [offsets[a], offsets[a + 1])
agent_size_m                (A, 3)       float64    AgentTrack.size_m
agent_rgb                   (A, 3)       uint8      AgentTrack.rgb
agent_times_us              (R,)         int64      AgentTrack.times_us, all agents concatenated
agent_center_m              (R, 3)       float64    AgentTrack.center_m
agent_yaw_rad               (R,)         float64    AgentTrack.yaw_rad
agent_velocity_mps          (R, 2)       float64    AgentTrack.velocity_mps
agent_attribute             (R,)         int16      AgentTrack.attribute
==========================  ===========  =========  ===============================================

Loading a different format version, or a missing or mis-shaped field, raises ``DataError`` naming the
file and the field.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from occplan.errors import DataError, ValidationError
from occplan.io import load_npz
from occplan.types._check import check_array
from occplan.world.spec import WORLD_FORMAT_VERSION, AgentTrack, EgoTrack, MapLayers, StaticMesh, WorldSpec

JSON_NAME = "world.json"
NPZ_NAME = "world.npz"
FORMAT_NAME = "occplan-world"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

_ARRAY_KEYS = (
    "static_vertices_m",
    "static_faces",
    "static_face_label",
    "static_face_rgb",
    "ego_times_us",
    "ego_xy_m",
    "ego_z_m",
    "ego_yaw_rad",
    "ego_speed_mps",
    "route_xy_m",
    "agent_offsets",
    "agent_size_m",
    "agent_rgb",
    "agent_times_us",
    "agent_center_m",
    "agent_yaw_rad",
    "agent_velocity_mps",
    "agent_attribute",
)
_PAIR_LAYERS = ("lane", "lane_connector")


def _arrays(spec: WorldSpec) -> dict[str, np.ndarray]:
    agents = spec.agents
    counts = [len(a.times_us) for a in agents]

    def cat(name: str, dtype, tail: tuple[int, ...]) -> np.ndarray:
        if not agents:
            return np.zeros((0, *tail), dtype)
        return np.concatenate([getattr(a, name) for a in agents]).astype(dtype)

    return {
        "static_vertices_m": spec.static.vertices_m.astype(np.float64),
        "static_faces": spec.static.faces.astype(np.int32),
        "static_face_label": spec.static.face_label.astype(np.uint8),
        "static_face_rgb": spec.static.face_rgb.astype(np.uint8),
        "ego_times_us": spec.ego.times_us.astype(np.int64),
        "ego_xy_m": spec.ego.xy_m.astype(np.float64),
        "ego_z_m": spec.ego.z_m.astype(np.float64),
        "ego_yaw_rad": spec.ego.yaw_rad.astype(np.float64),
        "ego_speed_mps": spec.ego.speed_mps.astype(np.float64),
        "route_xy_m": spec.route_xy_m.astype(np.float64),
        "agent_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "agent_size_m": np.array([a.size_m for a in agents], np.float64).reshape(-1, 3),
        "agent_rgb": np.array([a.rgb for a in agents], np.uint8).reshape(-1, 3),
        "agent_times_us": cat("times_us", np.int64, ()),
        "agent_center_m": cat("center_m", np.float64, (3,)),
        "agent_yaw_rad": cat("yaw_rad", np.float64, ()),
        "agent_velocity_mps": cat("velocity_mps", np.float64, (2,)),
        "agent_attribute": cat("attribute", np.int16, ()),
    }


def _header(spec: WorldSpec) -> dict:
    layers = {}
    for f in fields(MapLayers):
        value = getattr(spec.map, f.name)
        layers[f.name] = [list(v) for v in value] if f.name in _PAIR_LAYERS else list(value)
    return {
        "format": FORMAT_NAME,
        "format_version": WORLD_FORMAT_VERSION,
        "scene_name": spec.scene_name,
        "location": spec.location,
        "seed": int(spec.seed),
        "start_time_us": int(spec.start_time_us),
        "duration_s": float(spec.duration_s),
        "agents": [
            {
                "instance": a.instance,
                "category": a.category,
                "label": int(a.label),
                "attribute_names": list(a.attribute_names),
            }
            for a in spec.agents
        ],
        "map": layers,
    }


def save_world(spec: WorldSpec, directory: str | Path) -> Path:
    """Write ``world.json`` and ``world.npz`` into ``directory`` (created); same spec -> same bytes."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_NAME).write_text(json.dumps(_header(spec), sort_keys=True, indent=1) + "\n", encoding="utf-8")
    with zipfile.ZipFile(out / NPZ_NAME, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in _arrays(spec).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return out


def _field(obj: dict, key: str, kind: type | tuple[type, ...], path: Path):
    if key not in obj:
        raise DataError(f"{path}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(f"{path}: field {key!r} has type {type(value).__name__}")
    return value


def _read_header(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise DataError(f"{path}: field 'format' must be {FORMAT_NAME!r}")
    version = _field(obj, "format_version", int, path)
    if version != WORLD_FORMAT_VERSION:
        raise DataError(f"{path}: field 'format_version' is {version}, this code reads version {WORLD_FORMAT_VERSION}")
    return obj


def _check(arrays: dict[str, np.ndarray], key: str, shape, dtype, path: Path) -> np.ndarray:
    try:
        return check_array(arrays[key], key, shape, dtype, finite=True)
    except ValidationError as e:
        raise DataError(f"{path}: {e}") from e


def _check_arrays(arr: dict[str, np.ndarray], n_agents: int, npath: Path) -> np.ndarray:
    """Check the shapes and dtypes of the world arrays, that ``agent_offsets`` partitions the agent rows and
    that times increase within each track; returns the offsets (A + 1,)."""
    t = len(arr["ego_times_us"])
    spec_arrays = {
        "ego_times_us": ((None,), np.int64),
        "ego_xy_m": ((t, 2), np.float64),
        "ego_z_m": ((t,), np.float64),
        "ego_yaw_rad": ((t,), np.float64),
        "ego_speed_mps": ((t,), np.float64),
        "route_xy_m": ((None, 2), np.float64),
        "agent_offsets": ((n_agents + 1,), np.int64),
        "agent_size_m": ((n_agents, 3), np.float64),
        "agent_rgb": ((n_agents, 3), np.uint8),
    }
    for key, (shape, dtype) in spec_arrays.items():
        _check(arr, key, shape, dtype, npath)
    offsets = arr["agent_offsets"]
    rows = len(arr["agent_times_us"])
    if offsets[0] != 0 or offsets[-1] != rows or np.any(np.diff(offsets) < 0):
        raise DataError(f"{npath}: field 'agent_offsets' does not partition the {rows} agent rows")
    for key, (shape, dtype) in {
        "agent_times_us": ((rows,), np.int64),
        "agent_center_m": ((rows, 3), np.float64),
        "agent_yaw_rad": ((rows,), np.float64),
        "agent_velocity_mps": ((rows, 2), np.float64),
        "agent_attribute": ((rows,), np.int16),
    }.items():
        _check(arr, key, shape, dtype, npath)

    steps = np.diff(arr["agent_times_us"])
    inner = np.ones(len(steps), bool)
    inner[offsets[1:-1][(offsets[1:-1] > 0) & (offsets[1:-1] < rows)] - 1] = False  # boundaries between agents
    if np.any(steps[inner] <= 0) or np.any(np.diff(arr["ego_times_us"]) <= 0):
        raise DataError(f"{npath}: field 'agent_times_us' or 'ego_times_us' is not increasing within a track")
    return offsets


def _map_layers(head: dict, jpath: Path) -> MapLayers:
    """The header's ``map`` object as MapLayers (WKT strings; [polygon, centreline] pairs for lanes)."""
    map_obj = _field(head, "map", dict, jpath)
    layers = {}
    for f in fields(MapLayers):
        items = map_obj.get(f.name, [] if f.name == "carpark_area" else None)
        if not isinstance(items, list):
            raise DataError(f"{jpath}: missing or malformed field 'map.{f.name}'")
        if f.name in _PAIR_LAYERS:
            if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in items):
                raise DataError(f"{jpath}: field 'map.{f.name}' must hold [polygon_wkt, centreline_wkt] pairs")
            layers[f.name] = tuple((p[0], p[1]) for p in items)
        else:
            if not all(isinstance(s, str) for s in items):
                raise DataError(f"{jpath}: field 'map.{f.name}' must hold WKT strings")
            layers[f.name] = tuple(items)
    return MapLayers(**layers)


def _agents(agents_meta: list, arr: dict[str, np.ndarray], offsets: np.ndarray, jpath: Path) -> tuple[AgentTrack, ...]:
    """One AgentTrack per header entry, its samples the rows ``offsets[a]:offsets[a + 1]``."""
    agents = []
    for a, meta in enumerate(agents_meta):
        if not isinstance(meta, dict):
            raise DataError(f"{jpath}: field 'agents[{a}]' must be an object")
        sl = slice(int(offsets[a]), int(offsets[a + 1]))
        agents.append(
            AgentTrack(
                instance=_field(meta, "instance", str, jpath),
                category=_field(meta, "category", str, jpath),
                label=_field(meta, "label", int, jpath),
                size_m=arr["agent_size_m"][a],
                times_us=arr["agent_times_us"][sl],
                center_m=arr["agent_center_m"][sl],
                yaw_rad=arr["agent_yaw_rad"][sl],
                velocity_mps=arr["agent_velocity_mps"][sl],
                attribute=arr["agent_attribute"][sl],
                attribute_names=tuple(_field(meta, "attribute_names", list, jpath)),
                rgb=arr["agent_rgb"][a],
            )
        )
    return tuple(agents)


def load_world(directory: str | Path) -> WorldSpec:
    """Read a world written by ``save_world``; DataError naming the file and field on any mismatch."""
    root = Path(directory)
    jpath, npath = root / JSON_NAME, root / NPZ_NAME
    head = _read_header(jpath)
    arr = load_npz(npath, _ARRAY_KEYS)
    agents_meta = _field(head, "agents", list, jpath)
    offsets = _check_arrays(arr, len(agents_meta), npath)
    map_layers = _map_layers(head, jpath)
    try:
        static = StaticMesh(
            arr["static_vertices_m"], arr["static_faces"], arr["static_face_label"], arr["static_face_rgb"]
        )
        agents = _agents(agents_meta, arr, offsets, jpath)
    except ValidationError as e:
        raise DataError(f"{npath}: {e}") from e
    return WorldSpec(
        scene_name=_field(head, "scene_name", str, jpath),
        location=_field(head, "location", str, jpath),
        seed=_field(head, "seed", int, jpath),
        start_time_us=_field(head, "start_time_us", int, jpath),
        duration_s=float(_field(head, "duration_s", (int, float), jpath)),
        static=static,
        agents=agents,
        ego=EgoTrack(arr["ego_times_us"], arr["ego_xy_m"], arr["ego_z_m"], arr["ego_yaw_rad"], arr["ego_speed_mps"]),
        map=map_layers,
        route_xy_m=arr["route_xy_m"],
        format_version=WORLD_FORMAT_VERSION,
    )
