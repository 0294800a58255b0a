"""Geometry building blocks of the world builder, checked against plain references (shapely, circles)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from scenarios.build.boxes import box_corners, boxes_overlap
from scenarios.build.config import BuildConfig
from scenarios.build.mesh import MeshBuilder, add_ground, add_kerbs
from scenarios.build.network import build_network, path_crossings
from scenarios.build.path import Path, cubic_bezier


def test_box_overlap_agrees_with_shapely():
    rng = np.random.default_rng(1)
    n = 3000
    a = box_corners(rng.uniform(-3, 3, (n, 2)), rng.uniform(-np.pi, np.pi, n), 1.9, 4.6)
    b = box_corners(rng.uniform(-3, 3, (n, 2)), rng.uniform(-np.pi, np.pi, n), 0.7, 0.7)
    ref = shapely.area(shapely.intersection(shapely.polygons(a), shapely.polygons(b))) > 1e-9
    assert 100 < ref.sum() < n - 100
    np.testing.assert_array_equal(boxes_overlap(a, b), ref)


def test_path_resampling_and_circle_curvature():
    angle = np.linspace(0, np.pi / 2, 400)
    radius = 20.0
    p = Path.from_points(np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]), 0.5)
    assert p.length_m == pytest.approx(np.pi / 2 * radius, rel=1e-4)
    assert np.all(np.diff(p.s_m) <= 0.5 + 1e-9)
    assert np.median(p.curvature_1pm) == pytest.approx(1 / radius, rel=1e-2)
    inner = p.offset_points(2.0)  # left of a counter-clockwise arc = towards the centre
    assert np.linalg.norm(inner, axis=1) == pytest.approx(radius - 2.0, abs=1e-3)


def test_bezier_connector_is_g1_continuous():
    c = cubic_bezier(np.array([0.0, 0.0]), 0.0, np.array([10.0, 10.0]), np.pi / 2)
    assert c.xy_m[0] == pytest.approx([0, 0]) and c.xy_m[-1] == pytest.approx([10, 10])
    assert c.heading_rad[0] == pytest.approx(0.0, abs=0.02) and c.heading_rad[-1] == pytest.approx(np.pi / 2, abs=0.02)


def test_ground_partition_of_a_square_with_a_disc():
    builder = MeshBuilder(np.random.default_rng(0))
    square = shapely.box(0, 0, 20, 20)
    disc = shapely.Point(10, 10).buffer(5.0, quad_segs=32)
    add_ground(builder, square, [(disc, 24, (70, 70, 70), 0.0)], (27, (90, 120, 60), 0.15))
    mesh = builder.build()
    tri = mesh.vertices_m[mesh.faces]
    up = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.all(up[:, 2] > 0)  # all faces point up
    area = 0.5 * up[:, 2]
    assert area.sum() == pytest.approx(400.0, rel=1e-9)
    assert area[mesh.face_label == 24].sum() == pytest.approx(disc.area, rel=1e-3)
    assert np.all(tri[mesh.face_label == 24][..., 2] == 0.0) and np.all(tri[mesh.face_label == 27][..., 2] == 0.15)


def test_kerbs_ring_the_drivable_area():
    builder = MeshBuilder(np.random.default_rng(0))
    road = shapely.box(0, 0, 10, 4)
    add_kerbs(
        builder,
        road,
        0.15,
        lambda xy: np.where(xy[:, 1] > 2, 26, 27).astype(np.uint8),
        lambda lab: np.zeros((len(lab), 3)),
    )
    mesh = builder.build()
    tri = mesh.vertices_m[mesh.faces]
    # vertical faces of total area perimeter x height, labelled by the raised side
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.allclose(normals[:, 2], 0.0)
    assert 0.5 * np.linalg.norm(normals, axis=1).sum() == pytest.approx(28 * 0.15)
    top = tri[..., 1].mean(axis=1) > 3.9
    assert set(mesh.face_label[top].tolist()) == {26} and 27 in mesh.face_label[~top]


@pytest.mark.parametrize("layout", ["t_junction", "crossroad"])
def test_junction_connectors_join_lanes_and_stop_lines_precede_crossings(layout):
    net = build_network(np.random.default_rng(5), layout, BuildConfig())
    for lane in net.lanes:
        for nxt in lane.successors:
            a, b = lane.path, net.lanes[nxt].path
            assert np.linalg.norm(a.xy_m[-1] - b.xy_m[0]) < 1e-6
            assert np.angle(np.exp(1j * (a.heading_rad[-1] - b.heading_rad[0]))) == pytest.approx(0.0, abs=0.05)
    incoming = [ln for ln in net.lanes if ln.successors and not ln.is_connector]
    assert len(incoming) == (3 if layout == "t_junction" else 4)
    for ln in incoming:
        s_out = path_crossings(ln.path, net.crossings)[-1][2]
        assert ln.path.length_m - s_out < 2.5  # the zebra crossing lies just before the junction
    junction = net.junctions[0].polygon
    for k in net.junctions[0].connectors:
        xy = net.lanes[k].path.xy_m
        assert shapely.contains_xy(junction.buffer(0.5), xy[:, 0], xy[:, 1]).all()
