"""WorldSpec persistence: exact round trip, reproducible bytes, clear errors for bad files."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest

from occplan.errors import DataError
from occplan.world.spec import WORLD_FORMAT_VERSION, AgentTrack, EgoTrack, MapLayers, StaticMesh, WorldSpec
from occplan.world.spec_io import load_world, save_world


def _spec() -> WorldSpec:
    rng = np.random.default_rng(0)
    t = 1_600_000_000_000_000 + 50_000 * np.arange(5, dtype=np.int64)
    static = StaticMesh(
        vertices_m=rng.uniform(0, 10, (6, 3)),
        faces=np.array([[0, 1, 2], [3, 4, 5]], np.int32),
        face_label=np.array([24, 28], np.uint8),
        face_rgb=np.array([[70, 70, 70], [200, 180, 150]], np.uint8),
    )

    def track(name: str, n: int, attrs: tuple[str, ...]) -> AgentTrack:
        return AgentTrack(
            instance=name,
            category="vehicle.car" if attrs else "movable_object.trafficcone",
            label=17 if attrs else 12,
            size_m=np.array([1.9, 4.6, 1.7]),
            times_us=t[:n],
            center_m=rng.uniform(0, 50, (n, 3)),
            yaw_rad=rng.uniform(-3, 3, n),
            velocity_mps=rng.normal(0, 3, (n, 2)),
            attribute=np.zeros(n, np.int16) if attrs else np.full(n, -1, np.int16),
            attribute_names=attrs,
            rgb=np.array([10, 20, 30], np.uint8),
        )

    lane = ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "LINESTRING (0 0, 1 1)")
    layers = MapLayers(
        drivable_area=("POLYGON ((0 0, 10 0, 10 10, 0 0))",),
        road_segment=(),
        lane=(lane,),
        lane_connector=(),
        ped_crossing=(),
        walkway=("POLYGON ((0 0, 2 0, 2 2, 0 0))",),
        stop_line=(),
        lane_divider=("LINESTRING (0 0, 5 5)",),
        road_divider=(),
        carpark_area=(),
    )
    ego = EgoTrack(t, rng.uniform(0, 9, (5, 2)), np.zeros(5), rng.uniform(-3, 3, 5), rng.uniform(0, 9, 5))
    return WorldSpec(
        scene_name="scene-test",
        location="boston-seaport",
        seed=7,
        start_time_us=int(t[0]),
        duration_s=0.2,
        static=static,
        agents=(track("a" * 32, 5, ("vehicle.moving", "vehicle.stopped")), track("b" * 32, 3, ())),
        ego=ego,
        map=layers,
        route_xy_m=rng.uniform(0, 9, (4, 2)),
    )


def _assert_same(a: WorldSpec, b: WorldSpec) -> None:
    for f in fields(WorldSpec):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("static", "ego"):
            for g in fields(x):
                got, want = getattr(y, g.name), getattr(x, g.name)
                assert got.dtype == want.dtype and np.array_equal(got, want), f"{f.name}.{g.name}"
        elif f.name == "agents":
            assert len(x) == len(y)
            for p, q in zip(x, y, strict=True):
                for g in fields(AgentTrack):
                    u, v = getattr(p, g.name), getattr(q, g.name)
                    if isinstance(u, np.ndarray):
                        assert u.dtype == v.dtype and np.array_equal(u, v), g.name
                    else:
                        assert u == v, g.name
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def test_round_trip_is_exact(tmp_path):
    spec = _spec()
    save_world(spec, tmp_path / "w")
    _assert_same(spec, load_world(tmp_path / "w"))


def test_saving_twice_gives_identical_bytes(tmp_path):
    spec = _spec()
    save_world(spec, tmp_path / "a")
    save_world(load_world(tmp_path / "a"), tmp_path / "b")
    for name in ("world.json", "world.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_npz_loads_without_pickle(tmp_path):
    save_world(_spec(), tmp_path)
    with np.load(tmp_path / "world.npz", allow_pickle=False) as z:
        assert z["static_faces"].dtype == np.int32 and z["agent_offsets"].tolist() == [0, 5, 8]


def _rewrite_json(path, edit) -> None:
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def _rewrite_npz(path, edit) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    np.savez(path, **arrays)


def test_wrong_version_names_file_and_field(tmp_path):
    save_world(_spec(), tmp_path)
    _rewrite_json(tmp_path / "world.json", lambda o: o.update(format_version=WORLD_FORMAT_VERSION + 1))
    with pytest.raises(DataError, match=r"world\.json.*format_version"):
        load_world(tmp_path)


@pytest.mark.parametrize("field", ["scene_name", "agents", "map", "seed"])
def test_missing_json_field_names_it(tmp_path, field):
    save_world(_spec(), tmp_path)
    _rewrite_json(tmp_path / "world.json", lambda o: o.pop(field))
    with pytest.raises(DataError, match=rf"world\.json.*{field}"):
        load_world(tmp_path)


def test_missing_map_layer_names_it(tmp_path):
    save_world(_spec(), tmp_path)
    _rewrite_json(tmp_path / "world.json", lambda o: o["map"].pop("lane"))
    with pytest.raises(DataError, match=r"world\.json.*map\.lane"):
        load_world(tmp_path)


@pytest.mark.parametrize("key", ["static_faces", "agent_center_m", "ego_yaw_rad"])
def test_missing_array_names_it(tmp_path, key):
    save_world(_spec(), tmp_path)
    _rewrite_npz(tmp_path / "world.npz", lambda a: a.pop(key))
    with pytest.raises(DataError, match=rf"world\.npz.*{key}"):
        load_world(tmp_path)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("ego_xy_m", lambda a: a[:, :1]),
        ("agent_center_m", lambda a: a[:-1]),
        ("agent_size_m", lambda a: a[:, :2]),
        ("static_face_label", lambda a: a.astype(np.int64)),
        ("agent_yaw_rad", lambda a: np.where(np.arange(len(a)) == 0, np.nan, a)),
    ],
)
def test_misshaped_array_names_it(tmp_path, key, bad):
    save_world(_spec(), tmp_path)
    _rewrite_npz(tmp_path / "world.npz", lambda a: a.update({key: bad(a[key])}))
    with pytest.raises(DataError, match=r"world\.npz"):
        load_world(tmp_path)


def test_inconsistent_offsets_are_rejected(tmp_path):
    save_world(_spec(), tmp_path)
    _rewrite_npz(tmp_path / "world.npz", lambda a: a.update(agent_offsets=np.array([0, 4, 8], np.int64)))
    with pytest.raises(DataError, match=r"world\.npz.*agent_times_us"):
        load_world(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="world.json"):
        load_world(tmp_path / "nowhere")
