"""Static triangle meshes with per-face lidarseg labels and albedo: the ground partition, kerbs and primitives."""

from __future__ import annotations

from functools import cache

import numpy as np
import shapely
import trimesh
from scipy.spatial import Delaunay, cKDTree

from occplan.world.spec import StaticMesh

BOUNDARY_STEP_M = 1.0
GRID_STEP_M = 12.0


@cache
def _unit_mesh(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit primitives centred at the origin: box (1 m cube), cylinder (radius 1, height 1, 8 sides), sphere."""
    if kind == "box":
        m = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    elif kind == "cylinder":
        m = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=8)
    else:
        m = trimesh.creation.icosphere(subdivisions=1)
    return np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64)


class MeshBuilder:
    """Accumulates triangles with a lidarseg general label and an RGB albedo per face."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._vertices: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._rgb: list[np.ndarray] = []
        self._n_vertices = 0

    def add(
        self, vertices_m: np.ndarray, faces: np.ndarray, label: int | np.ndarray, rgb: np.ndarray, jitter: float = 8.0
    ):
        """Add (V, 3) vertices and (F, 3) faces; ``label`` scalar or (F,); ``rgb`` (3,) or (F, 3) base albedo
        that gets a per-face brightness jitter of +-``jitter``."""
        faces = np.asarray(faces, dtype=np.int64)
        f = len(faces)
        base = np.broadcast_to(np.asarray(rgb, dtype=np.float64), (f, 3))
        shade = self._rng.uniform(-jitter, jitter, (f, 1))
        self._vertices.append(np.asarray(vertices_m, dtype=np.float64))
        self._faces.append(faces + self._n_vertices)
        self._labels.append(np.broadcast_to(np.asarray(label, dtype=np.uint8), (f,)))
        self._rgb.append(np.clip(base + shade, 0, 255).astype(np.uint8))
        self._n_vertices += len(vertices_m)

    def _add_unit(self, unit: tuple[np.ndarray, np.ndarray], scale, yaw_rad: float, offset, label, rgb, jitter=8.0):
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        v = unit[0] * np.asarray(scale, dtype=np.float64)
        v = np.column_stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]]) + np.asarray(offset)
        self.add(v, unit[1], label, rgb, jitter)

    def add_box(self, center_m, size_lwh_m, yaw_rad: float, label: int, rgb) -> None:
        """Box with its base centre ``center_m`` (3,), extents (length along yaw, width, height)."""
        offset = [center_m[0], center_m[1], center_m[2] + size_lwh_m[2] / 2]
        self._add_unit(_unit_mesh("box"), size_lwh_m, yaw_rad, offset, label, rgb)

    def add_cylinder(self, base_m, radius_m: float, height_m: float, label: int, rgb) -> None:
        """Octagonal prism standing on ``base_m`` (3,)."""
        offset = [base_m[0], base_m[1], base_m[2] + height_m / 2]
        self._add_unit(_unit_mesh("cylinder"), [radius_m, radius_m, height_m], 0.0, offset, label, rgb)

    def add_ellipsoid(self, center_m, radii_m, label: int, rgb) -> None:
        self._add_unit(_unit_mesh("sphere"), radii_m, 0.0, center_m, label, rgb, jitter=14.0)

    def build(self) -> StaticMesh:
        return StaticMesh(
            vertices_m=np.concatenate(self._vertices).astype(np.float64),
            faces=np.concatenate(self._faces).astype(np.int32),
            face_label=np.concatenate(self._labels).astype(np.uint8),
            face_rgb=np.concatenate(self._rgb).astype(np.uint8),
        )


def _boundary_points(geoms: list[shapely.Geometry]) -> np.ndarray:
    rings = shapely.segmentize(shapely.boundary(np.array(geoms, dtype=object)), BOUNDARY_STEP_M)
    return shapely.get_coordinates(rings)


def add_ground(
    builder: MeshBuilder,
    square: shapely.Polygon,
    regions: list[tuple[shapely.Geometry, int, tuple[int, int, int], float]],
    default: tuple[int, tuple[int, int, int], float],
) -> None:
    """Triangulate the square ground into class regions.

    ``regions`` (geometry, label, rgb, z_m) in priority order (first match wins); ``default`` (label,
    rgb, z_m) covers the rest. A Delaunay triangulation of the densified region boundaries plus a
    coarse grid away from them conforms to the boundaries; each triangle takes the class of its
    centroid and gets its own vertices at the class height.
    """
    geoms = [g for g, *_ in regions if not g.is_empty]
    edge_pts = _boundary_points([*geoms, square])
    lo, hi = square.bounds[0], square.bounds[2]
    g = np.arange(lo + GRID_STEP_M / 2, hi, GRID_STEP_M)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    near, _ = cKDTree(edge_pts).query(grid)  # edge points are 1 m apart: within 0.5 m of the true distance
    pts = np.unique(np.round(np.concatenate([edge_pts, grid[near > 2.5 * BOUNDARY_STEP_M]]), 4), axis=0)
    tri = Delaunay(pts).simplices
    centroid = pts[tri].mean(axis=1)
    cls = np.full(len(tri), len(regions), dtype=np.int64)
    for k in range(len(regions) - 1, -1, -1):
        shapely.prepare(regions[k][0])
        inside = shapely.contains_xy(regions[k][0], centroid[:, 0], centroid[:, 1])
        cls[inside] = k
    table = [*regions, (None, *default)]
    label = np.array([t[1] for t in table], dtype=np.uint8)[cls]
    rgb = np.array([t[2] for t in table], dtype=np.float64)[cls]
    z = np.array([t[3] for t in table], dtype=np.float64)[cls]
    verts = np.concatenate([pts[tri].reshape(-1, 2), np.repeat(z, 3)[:, None]], axis=1)
    faces = np.arange(len(verts)).reshape(-1, 3)
    # counter-clockwise seen from above, so normals point up
    a, b, c = verts[faces[:, 0], :2], verts[faces[:, 1], :2], verts[faces[:, 2], :2]
    cw = ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]) < 0
    faces[cw] = faces[cw][:, ::-1]
    builder.add(verts, faces, label, rgb, jitter=6.0)


def add_kerbs(builder: MeshBuilder, drivable: shapely.Geometry, height_m: float, side_label, side_rgb) -> None:
    """Vertical kerb faces (z 0 -> ``height_m``) along every ring of the drivable area.

    ``side_label(points (N, 2)) -> (N,)`` and ``side_rgb(labels) -> (N, 3)`` give the class of the raised
    ground just outside each kerb segment.
    """
    oriented = shapely.get_parts(drivable)
    rings = []
    for poly in oriented:
        poly = shapely.geometry.polygon.orient(poly, 1.0)
        rings += [poly.exterior, *poly.interiors]
    rings = shapely.segmentize(np.array(rings, dtype=object), BOUNDARY_STEP_M)
    seg_a, seg_b = [], []
    for ring in rings:
        xy = shapely.get_coordinates(ring)
        seg_a.append(xy[:-1])
        seg_b.append(xy[1:])
    a, b = np.concatenate(seg_a), np.concatenate(seg_b)
    d = b - a
    length = np.linalg.norm(d, axis=1)
    keep = length > 1e-6
    a, b, d, length = a[keep], b[keep], d[keep], length[keep]
    outward = np.column_stack([d[:, 1], -d[:, 0]]) / length[:, None]  # right of travel = outside (CCW shells)
    label = side_label((a + b) / 2 + 0.3 * outward)
    n = len(a)
    z0, z1 = np.zeros((n, 1)), np.full((n, 1), height_m)
    verts = np.concatenate(
        [np.hstack([a, z0]), np.hstack([b, z0]), np.hstack([b, z1]), np.hstack([a, z1])], axis=1
    ).reshape(-1, 3)
    base = 4 * np.arange(n)[:, None]
    faces = np.stack([base + np.array([0, 1, 2]), base + np.array([0, 2, 3])], axis=1).reshape(-1, 3)
    builder.add(verts, faces, np.repeat(label, 2), np.repeat(side_rgb(label), 2, axis=0), jitter=4.0)
