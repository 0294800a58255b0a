"""``NuScenesSource``: scenes, keyframes and sensor data of any nuScenes-format dataroot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.splits import create_splits_scenes

from occplan.data.boxes import agent_boxes
from occplan.data.cameras import camera_frames
from occplan.data.ego import driving_command, ego_track, logged_future, relative_xy_yaw
from occplan.data.lidar import load_lidar, pcd_num_points
from occplan.data.lidarseg import general_index_table, lidarseg_labels
from occplan.data.maps import load_map
from occplan.data.occ_readers import occupancy_candidates, read_occupancy
from occplan.data.scenario_types import SCENARIO_TYPES_FILE, ScenarioTag, read_scenario_types
from occplan.data.tables import get_row, open_nuscenes, pose_of
from occplan.errors import DataError
from occplan.interfaces import SensorRequest
from occplan.types import Frame, LabelSet, LidarSweep, MapInfo, OccupancyFrame, Pose, Scenario, SensorFrame

LIDAR_CHANNEL = "LIDAR_TOP"


@dataclass(frozen=True)
class SourceConfig:
    """``history_frames``: earlier keyframes kept in ``Frame.ego_history`` and
    ``SensorFrame.history_world_from_ego`` (2 Hz, so 4 = 2 s); ``command_threshold_m``: lateral offset
    of the logged horizon waypoint that makes a turn command (ST-P3 / UniAD: 2 m)."""

    history_frames: int = 4
    command_threshold_m: float = 2.0


@dataclass(frozen=True)
class Keyframe:
    """The fields of a keyframe that occupancy scoring reads (a slice of ``Frame``, without cameras,
    boxes and ego states): ``world_from_ego`` and ``ego_from_lidar`` at the LIDAR_TOP timestamp
    ``time_us``, and the LIDAR_TOP sample_data token and file (they locate the GT files)."""

    scene_name: str
    sample_token: str
    time_us: int
    world_from_ego: Pose
    ego_from_lidar: Pose
    lidar_token: str
    lidar_path: str


class NuScenesSource:
    """A nuScenes-format dataroot read through nuscenes-devkit (real nuScenes or OccPlan's generated data).

    Frames: everything per keyframe is in the ego frame at the LIDAR_TOP timestamp unless stated.
    Scenarios and maps are built once per scene / location and cached.
    """

    def __init__(self, dataroot: str | Path, version: str = "v1.0-mini", config: SourceConfig | None = None) -> None:
        self.dataroot = Path(dataroot)
        self.version = version
        self.config = config or SourceConfig()
        self.nusc: NuScenes = open_nuscenes(self.dataroot, version)
        self._scenes = {s["name"]: s for s in self.nusc.scene}
        self._scenarios: dict[str, Scenario] = {}
        self._maps: dict[str, MapInfo] = {}
        self._lidarseg_files = {r["sample_data_token"]: r["filename"] for r in getattr(self.nusc, "lidarseg", [])}
        self._lidarseg_table: np.ndarray | None = None
        self._scenario_types: dict[str, ScenarioTag] | None = None

    # --- scenes --------------------------------------------------------------------------------------
    def scene_names(self, split: str | None = None) -> list[str]:
        """Scene names present in the dataroot (sorted), optionally restricted to ``split``.

        The split comes from ``<dataroot>/splits.json`` ({"train": [...], "val": [...]}) when it exists,
        else from the devkit's splits (``mini_<split>`` and ``<split>`` lists) filtered to present
        scenes; when none of the present scenes appears in any devkit split (a dataroot of new
        scenes without ``splits.json``), every scene belongs to every split.
        """
        present = sorted(self._scenes)
        if split is None:
            return present
        path = self.dataroot / "splits.json"
        if path.is_file():
            try:
                splits = json.loads(path.read_text())
            except ValueError as e:
                raise DataError(f"{path}: not valid JSON ({e})") from e
            if split not in splits:
                raise DataError(f"{path}: no split {split!r}; has {sorted(splits)}")
            wanted = set(splits[split])
            return [s for s in present if s in wanted]
        devkit = create_splits_scenes()
        if split not in devkit:
            raise DataError(f"unknown split {split!r}; devkit splits: {sorted(devkit)}")
        if not any(s in names for names in devkit.values() for s in present):
            return present
        wanted = set(devkit[split]) | set(devkit.get(f"mini_{split}", ()))
        return [s for s in present if s in wanted]

    def scenario_types(self) -> dict[str, ScenarioTag]:
        """Scenario-type tags by scene name from ``<dataroot>/scenario_types.json``
        (``occplan.data.scenario_types``); {} without the table. Tags of scenes absent from the
        dataroot are refused."""
        if self._scenario_types is None:
            tags = read_scenario_types(self.dataroot)
            stray = sorted(set(tags) - set(self._scenes))
            if stray:
                raise DataError(f"{self.dataroot / SCENARIO_TYPES_FILE}: scenes {stray} are not in the dataroot")
            self._scenario_types = tags
        return self._scenario_types

    def scenario_type(self, scene_name: str) -> str | None:
        """The scenario type of ``scene_name``, None for an untagged scene."""
        tag = self.scenario_types().get(scene_name)
        return None if tag is None else tag.type

    def scenario(self, scene_name: str) -> Scenario:
        """All keyframes of ``scene_name`` with poses, cameras, boxes, ego history/future and the map."""
        if scene_name not in self._scenarios:
            self._scenarios[scene_name] = self._build_scenario(scene_name)
        return self._scenarios[scene_name]

    def _build_scenario(self, scene_name: str) -> Scenario:
        if scene_name not in self._scenes:
            raise DataError(f"{self.dataroot / self.version / 'scene.json'}: no scene {scene_name!r}")
        scene = self._scenes[scene_name]
        samples = self._samples(scene)
        lidar_rows = [self._lidar_row(s) for s in samples]
        world_from_ego = [
            pose_of(get_row(self.nusc, "ego_pose", r["ego_pose_token"], f"sample_data {r['token']}"), "ego_pose")
            for r in lidar_rows
        ]
        track = ego_track(self.nusc, lidar_rows[0]["token"], scene["token"])
        states = track.states([r["timestamp"] for r in lidar_rows])
        history = self.config.history_frames
        frames = []
        for i, (sample, row) in enumerate(zip(samples, lidar_rows, strict=True)):
            ego_from_world = world_from_ego[i].inverse()
            cs = get_row(self.nusc, "calibrated_sensor", row["calibrated_sensor_token"], f"sample_data {row['token']}")
            future, valid = logged_future(world_from_ego, i)
            frames.append(
                Frame(
                    scene_name=scene_name,
                    sample_token=sample["token"],
                    index=i,
                    time_us=int(row["timestamp"]),
                    world_from_ego=world_from_ego[i],
                    ego_from_lidar=pose_of(cs, "calibrated_sensor"),
                    lidar_token=row["token"],
                    lidar_path=str(self.dataroot / row["filename"]),
                    cameras=camera_frames(self.nusc, sample, ego_from_world),
                    agents=agent_boxes(self.nusc, sample, ego_from_world),
                    ego_state=states[i],
                    ego_history=relative_xy_yaw(ego_from_world, world_from_ego[max(0, i - history) : i]),
                    future=future,
                    future_valid=valid,
                    command=driving_command(future, valid, self.config.command_threshold_m),
                )
            )
        log = get_row(self.nusc, "log", scene["log_token"], f"scene {scene_name}")
        return Scenario(
            name=scene_name,
            token=scene["token"],
            location=log["location"],
            frames=tuple(frames),
            map=self.map(log["location"]),
            dataroot=str(self.dataroot),
            version=self.version,
        )

    def lidar_keyframes(self, name: str) -> tuple[str, list[Keyframe]]:
        """(scene token, keyframes in time order) of scene ``name`` from the tables alone (sample chain, LIDAR_TOP
        sample_data, ego pose and calibration rows): no ``Scenario`` (cameras, boxes, ego track, map) is built."""
        if name not in self._scenes:
            raise DataError(f"{self.dataroot / self.version / 'scene.json'}: no scene {name!r}")
        scene = self._scenes[name]
        frames = []
        for sample in self._samples(scene):
            row = self._lidar_row(sample)
            ego = get_row(self.nusc, "ego_pose", row["ego_pose_token"], f"sample_data {row['token']}")
            cs = get_row(self.nusc, "calibrated_sensor", row["calibrated_sensor_token"], f"sample_data {row['token']}")
            world_from_ego, ego_from_lidar = pose_of(ego, "ego_pose"), pose_of(cs, "calibrated_sensor")
            lidar = (row["token"], str(self.dataroot / row["filename"]))
            frames.append(
                Keyframe(name, sample["token"], int(row["timestamp"]), world_from_ego, ego_from_lidar, *lidar)
            )
        return scene["token"], frames

    def _samples(self, scene: dict) -> list[dict]:
        samples, token = [], scene["first_sample_token"]
        while token:
            sample = get_row(self.nusc, "sample", token, f"scene {scene['name']}")
            samples.append(sample)
            token = sample["next"]
        if len(samples) != scene["nbr_samples"]:
            raise DataError(
                f"{self.dataroot / self.version / 'scene.json'}: scene {scene['name']} field 'nbr_samples' is "
                f"{scene['nbr_samples']} but its sample chain has {len(samples)}"
            )
        return samples

    def _lidar_row(self, sample: dict) -> dict:
        if LIDAR_CHANNEL not in sample["data"]:
            table = self.dataroot / self.version / "sample_data.json"
            raise DataError(f"{table}: sample {sample['token']} has no LIDAR_TOP")
        return get_row(self.nusc, "sample_data", sample["data"][LIDAR_CHANNEL], f"sample {sample['token']}")

    def map(self, location: str) -> MapInfo:
        """The drivable area of ``location`` (see ``occplan.data.maps.load_map``)."""
        if location not in self._maps:
            self._maps[location] = load_map(self.dataroot, location)
        return self._maps[location]

    # --- per-keyframe sensor data ----------------------------------------------------------------------
    def lidar(self, frame: Frame, n_sweeps: int = 1) -> LidarSweep:
        """LIDAR_TOP points of ``frame`` and ``n_sweeps - 1`` earlier sweeps (ego-motion compensated) in
        the keyframe ego frame; where fewer sweeps exist (the start of a log, a dataroot without
        ``sweeps/``) the earliest one is repeated (``occplan.data.lidar.pad_sweeps``)."""
        return load_lidar(self.nusc, frame.lidar_token, frame.world_from_ego.inverse(), n_sweeps)

    def lidarseg(self, frame: Frame, labels: LabelSet | None = None) -> np.ndarray | None:
        """(N,) uint8 lidarseg labels of the keyframe points (file order = ``lidar(frame, 1)`` order),
        GENERAL classes by default or converted to ``labels`` (e.g. ``LabelSet.lidarseg_challenge()``);
        None when the dataroot has no lidarseg for this keyframe."""
        filename = self._lidarseg_files.get(frame.lidar_token)
        if filename is None:
            return None
        if self._lidarseg_table is None:
            self._lidarseg_table = general_index_table(self.nusc)
        general = lidarseg_labels(self.dataroot / filename, pcd_num_points(frame.lidar_path), self._lidarseg_table)
        return general if labels is None else LabelSet.lidarseg_general().convert(general, labels)

    def occupancy(self, frame: Frame) -> OccupancyFrame | None:
        """Occupancy GT of ``frame`` in the first format found (Occ3D, OpenOcc v2, OpenOccupancy,
        SurroundOcc; see ``occ_readers``), placed in the world; None when the dataroot has none."""
        scene_token = self._scenes[frame.scene_name]["token"]
        filename = self.nusc.get("sample_data", frame.lidar_token)["filename"]
        for fmt, path in occupancy_candidates(
            self.dataroot, frame.scene_name, scene_token, frame.sample_token, frame.lidar_token, filename
        ):
            if path.is_file():
                world_from_grid = frame.world_from_ego if fmt.ego_frame else frame.world_from_ego @ frame.ego_from_lidar
                return read_occupancy(fmt, path, world_from_grid, frame.time_us)
        return None

    def sensor_frame(self, frame: Frame, request: SensorRequest) -> SensorFrame:
        """What a model may see at ``frame``: the requested cameras and LiDAR sweeps (no ground truth)."""
        have = {c.channel: c for c in frame.cameras}
        missing = [c for c in request.cameras if c not in have]
        if missing:
            where = f"{self.dataroot}: scene {frame.scene_name} sample {frame.sample_token}"
            raise DataError(f"{where} lacks cameras {missing}")
        earlier = self.scenario(frame.scene_name).frames[max(0, frame.index - self.config.history_frames) : frame.index]
        return SensorFrame(
            scene_name=frame.scene_name,
            sample_token=frame.sample_token,
            time_us=frame.time_us,
            world_from_ego=frame.world_from_ego,
            ego_state=frame.ego_state,
            lidar=self.lidar(frame, request.lidar_sweeps) if request.lidar_sweeps > 0 else None,
            cameras=tuple(have[c] for c in request.cameras),
            history_world_from_ego=tuple(f.world_from_ego for f in earlier),
        )
