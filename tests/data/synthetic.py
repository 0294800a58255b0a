"""A tiny synthetic nuScenes-format dataroot with sweeps, lidarseg, a camera and an optional map.

One scene of 3 keyframes 0.5 s apart; the ego drives straight along world x at ``SPEED_MPS`` with
yaw 0. LIDAR_TOP runs at 10 Hz (4 sweeps between keyframes and 4 before the first); the LiDAR sits at
``LIDAR_IN_EGO_M`` with identity rotation; each sweep holds the same ``POINTS_SENSOR`` in the sensor
frame. One car moves along world x at ``CAR_SPEED_MPS``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

VERSION = "v1.0-synth"
SCENE = "scene-synth"
LOCATION = "boston-seaport"
T0_US = 1_000_000_000
SPEED_MPS = 5.0
CAR_SPEED_MPS = 2.0
LIDAR_IN_EGO_M = np.array([1.0, 0.0, 1.8])
SWEEP_DT_US = 100_000
N_KEYFRAMES = 3
IMAGE_HW = (6, 8)
CATEGORIES = {"noise": 0, "vehicle.car": 17, "flat.driveable_surface": 24, "static.manmade": 28}
POINTS_SENSOR = np.array(
    [[5.0, 0.0, -1.0, 10.0, 3.0], [0.0, 4.0, 0.5, 20.0, 7.0], [-3.0, -2.0, 0.0, 30.0, 31.0]], dtype=np.float32
)
LIDARSEG_RAW = np.array([17, 24, 28], dtype=np.uint8)
IDENTITY_WXYZ = [1.0, 0.0, 0.0, 0.0]


def write_dataroot(root: Path, map_kind: str = "polygons") -> Path:
    """Write the dataroot under ``root``; ``map_kind`` is "expansion", "polygons" or "none"."""
    tables: dict[str, list[dict]] = {name: [] for name in (*_TABLES, "lidarseg")}
    tables["sensor"] = [
        {"token": "sensor-lidar", "channel": "LIDAR_TOP", "modality": "lidar"},
        {"token": "sensor-cam", "channel": "CAM_FRONT", "modality": "camera"},
    ]
    tables["calibrated_sensor"] = [
        {"token": "cs-lidar", "sensor_token": "sensor-lidar", "translation": LIDAR_IN_EGO_M.tolist(),
         "rotation": IDENTITY_WXYZ, "camera_intrinsic": []},
        # camera looking forward: cam z = ego x, cam x = -ego y, cam y = -ego z
        {"token": "cs-cam", "sensor_token": "sensor-cam", "translation": [1.5, 0.0, 1.5],
         "rotation": [0.5, -0.5, 0.5, -0.5], "camera_intrinsic": [[4.0, 0, 4.0], [0, 4.0, 3.0], [0, 0, 1]]},
    ]  # fmt: skip
    tables["category"] = [
        {"token": f"cat-{n}", "name": n, "description": "", "index": i} for n, i in CATEGORIES.items()
    ]
    tables["attribute"] = [{"token": "attr-moving", "name": "vehicle.moving", "description": ""}]
    tables["visibility"] = [{"token": "4", "level": "v80-100", "description": ""}]
    tables["log"] = [{"token": "log", "logfile": "log", "vehicle": "synth", "date_captured": "2024-01-01",
                      "location": LOCATION}]  # fmt: skip
    tables["map"] = [{"token": "map", "log_tokens": ["log"], "category": "semantic_prior", "filename": "maps/map.png"}]
    (root / "maps").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(root / "maps" / "map.png")
    sample_tokens = [f"sample-{k}" for k in range(N_KEYFRAMES)]
    tables["scene"] = [{"token": "scene", "log_token": "log", "nbr_samples": N_KEYFRAMES, "name": SCENE,
                        "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
                        "description": ""}]  # fmt: skip
    for k, token in enumerate(sample_tokens):
        tables["sample"].append({"token": token, "timestamp": _key_time(k), "scene_token": "scene",
                                 "prev": sample_tokens[k - 1] if k else "",
                                 "next": sample_tokens[k + 1] if k + 1 < N_KEYFRAMES else ""})  # fmt: skip
    _write_lidar(root, tables, sample_tokens)
    _write_camera(root, tables, sample_tokens)
    _write_annotations(tables, sample_tokens)
    (root / VERSION).mkdir()
    for name, rows in tables.items():
        (root / VERSION / f"{name}.json").write_text(json.dumps(rows))
    if map_kind == "polygons":
        area = {"type": "MultiPolygon", "coordinates": [[[[-50, -10], [50, -10], [50, 10], [-50, 10], [-50, -10]]]]}
        (root / "maps" / "drivable_area").mkdir()
        (root / "maps" / "drivable_area" / f"{LOCATION}.json").write_text(json.dumps(area))
    elif map_kind == "expansion":
        (root / "maps" / "expansion").mkdir()
        (root / "maps" / "expansion" / f"{LOCATION}.json").write_text(json.dumps(_expansion()))
    return root


def ego_x_m(time_us: int) -> float:
    return SPEED_MPS * (time_us - T0_US) * 1e-6


def _key_time(k: int) -> int:
    return T0_US + k * 5 * SWEEP_DT_US


_TABLES = ("attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map", "sample",
           "sample_annotation", "sample_data", "scene", "sensor", "visibility")  # fmt: skip


def _write_lidar(root: Path, tables: dict, sample_tokens: list[str]) -> None:
    (root / "samples" / "LIDAR_TOP").mkdir(parents=True)
    (root / "sweeps" / "LIDAR_TOP").mkdir(parents=True)
    (root / "lidarseg" / VERSION).mkdir(parents=True)
    times = [_key_time(0) - SWEEP_DT_US * (4 - i) for i in range(4)]
    times += [_key_time(0) + SWEEP_DT_US * i for i in range(5 * (N_KEYFRAMES - 1) + 1)]
    rows = []
    for i, t in enumerate(times):
        key = (t - T0_US) % (5 * SWEEP_DT_US) == 0 and t >= T0_US
        k = min(max(0, -(-(t - T0_US) // (5 * SWEEP_DT_US))), N_KEYFRAMES - 1)  # next keyframe's sample
        folder = "samples" if key else "sweeps"
        filename = f"{folder}/LIDAR_TOP/lidar_{t}.pcd.bin"
        POINTS_SENSOR.tofile(root / filename)
        rows.append({"token": f"sd-lidar-{i}", "sample_token": sample_tokens[k], "ego_pose_token": f"ep-lidar-{i}",
                     "calibrated_sensor_token": "cs-lidar", "timestamp": t, "fileformat": "pcd",
                     "is_key_frame": key, "height": 0, "width": 0, "filename": filename})  # fmt: skip
        tables["ego_pose"].append({"token": f"ep-lidar-{i}", "timestamp": t, "rotation": IDENTITY_WXYZ,
                                   "translation": [ego_x_m(t), 0.0, 0.0]})  # fmt: skip
        if key:
            LIDARSEG_RAW.tofile(root / "lidarseg" / VERSION / f"sd-lidar-{i}_lidarseg.bin")
            filename = f"lidarseg/{VERSION}/sd-lidar-{i}_lidarseg.bin"
            tables["lidarseg"].append({"token": f"ls-{i}", "sample_data_token": f"sd-lidar-{i}", "filename": filename})
    _link(rows)
    tables["sample_data"] += rows


def _write_camera(root: Path, tables: dict, sample_tokens: list[str]) -> None:
    (root / "samples" / "CAM_FRONT").mkdir(parents=True)
    rows = []
    for k in range(N_KEYFRAMES):
        t = _key_time(k) + 20_000  # 20 ms after the LiDAR
        filename = f"samples/CAM_FRONT/cam_{t}.png"
        Image.fromarray(np.full((*IMAGE_HW, 3), 40 * k, dtype=np.uint8)).save(root / filename)
        rows.append({"token": f"sd-cam-{k}", "sample_token": sample_tokens[k], "ego_pose_token": f"ep-cam-{k}",
                     "calibrated_sensor_token": "cs-cam", "timestamp": t, "fileformat": "png", "is_key_frame": True,
                     "height": IMAGE_HW[0], "width": IMAGE_HW[1], "filename": filename})  # fmt: skip
        tables["ego_pose"].append({"token": f"ep-cam-{k}", "timestamp": t, "rotation": IDENTITY_WXYZ,
                                   "translation": [ego_x_m(t), 0.0, 0.0]})  # fmt: skip
    _link(rows)
    tables["sample_data"] += rows


def _write_annotations(tables: dict, sample_tokens: list[str]) -> None:
    tokens = [f"ann-{k}" for k in range(N_KEYFRAMES)]
    for k, token in enumerate(tokens):
        t_s = (_key_time(k) - T0_US) * 1e-6
        tables["sample_annotation"].append({
            "token": token, "sample_token": sample_tokens[k], "instance_token": "inst-car", "visibility_token": "4",
            "attribute_tokens": ["attr-moving"], "translation": [10.0 + CAR_SPEED_MPS * t_s, 3.0, 0.8],
            "size": [1.8, 4.5, 1.6], "rotation": IDENTITY_WXYZ, "prev": tokens[k - 1] if k else "",
            "next": tokens[k + 1] if k + 1 < N_KEYFRAMES else "", "num_lidar_pts": 5, "num_radar_pts": 0,
            "category_name": "vehicle.car"})  # fmt: skip
    tables["instance"] = [{"token": "inst-car", "category_token": "cat-vehicle.car", "nbr_annotations": N_KEYFRAMES,
                           "first_annotation_token": tokens[0], "last_annotation_token": tokens[-1]}]  # fmt: skip


def _link(rows: list[dict]) -> None:
    for i, row in enumerate(rows):
        row["prev"] = rows[i - 1]["token"] if i else ""
        row["next"] = rows[i + 1]["token"] if i + 1 < len(rows) else ""


def _expansion() -> dict:
    """A map-expansion JSON with one drivable-area square (-50..50) x (-10..10) m and a hole at (0..2, 5..7)."""
    square = [(-50, -10), (50, -10), (50, 10), (-50, 10)]
    hole = [(0, 5), (2, 5), (2, 7), (0, 7)]
    nodes = [{"token": f"n{i}", "x": float(x), "y": float(y)} for i, (x, y) in enumerate(square + hole)]
    layers = ("line", "road_segment", "road_block", "lane", "ped_crossing", "walkway", "stop_line", "carpark_area",
              "road_divider", "lane_divider", "traffic_light", "lane_connector")  # fmt: skip
    return {
        "version": "1.3",
        "canvas_edge": [100.0, 100.0],
        "node": nodes,
        "polygon": [
            {
                "token": "poly",
                "exterior_node_tokens": ["n0", "n1", "n2", "n3"],
                "holes": [{"node_tokens": ["n4", "n5", "n6", "n7"]}],
            }
        ],
        "drivable_area": [{"token": "da", "polygon_tokens": ["poly"]}],
        **{name: [] for name in layers},
        "arcline_path_3": {},
        "connectivity": {},
    }
