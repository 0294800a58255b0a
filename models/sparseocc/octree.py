"""Index arithmetic of the coarse-to-fine voxel pyramid of SparseOcc's sparse voxel decoder.

Level ``l`` of ``L`` levels has shape ``grid.shape / 2**(L - 1 - l)`` (e.g. 25x25x2, 50x50x4, 100x100x8,
200x200x16 on the Occ3D grid). A voxel is named by its linear index ``(x * Y + y) * Z + z`` in its level
(C order, as ``reshape`` of an (X, Y, Z) array). Each kept voxel at level l splits into its 8 children at
level l + 1; the children of one parent are contiguous, in octant order ``(dx * 2 + dy) * 2 + dz``.
"""

from __future__ import annotations

import torch

from occplan.errors import ValidationError


def level_shapes(grid_shape: tuple[int, int, int], num_levels: int) -> list[tuple[int, int, int]]:
    """Shapes of the pyramid levels, coarsest first (the last is ``grid_shape``)."""
    shapes = []
    for level in range(num_levels):
        f = 2 ** (num_levels - 1 - level)
        if any(n % f for n in grid_shape):
            raise ValidationError(f"sparse voxel pyramid: {num_levels} levels need grid {grid_shape} divisible by {f}")
        shapes.append((grid_shape[0] // f, grid_shape[1] // f, grid_shape[2] // f))
    return shapes


def unravel(index: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Linear voxel indices (...) -> integer coordinates (..., 3) = (x, y, z)."""
    _, ny, nz = shape
    return torch.stack([index // (ny * nz), (index // nz) % ny, index % nz], dim=-1)


def ravel(coords: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Integer coordinates (..., 3) -> linear voxel indices (...)."""
    _, ny, nz = shape
    return (coords[..., 0] * ny + coords[..., 1]) * nz + coords[..., 2]


OCTANTS = torch.tensor([[dx, dy, dz] for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)], dtype=torch.int64)
"""(8, 3) child offsets in octant order."""


def children(index: torch.Tensor, parent_shape: tuple[int, int, int]) -> torch.Tensor:
    """(B, K) voxel indices at a level of ``parent_shape`` -> (B, 8K) indices of their children at the next
    level (twice the shape); child ``j`` belongs to parent slot ``j // 8``, octant ``j % 8``."""
    child_shape = (2 * parent_shape[0], 2 * parent_shape[1], 2 * parent_shape[2])
    coords = unravel(index, parent_shape).unsqueeze(-2) * 2 + OCTANTS.to(index.device)  # (B, K, 8, 3)
    return ravel(coords, child_shape).flatten(1)


def voxel_centres_m(
    index: torch.Tensor,
    shape: tuple[int, int, int],
    range_min_m: tuple[float, float, float],
    range_max_m: tuple[float, float, float],
) -> torch.Tensor:
    """(...) voxel indices of a level of ``shape`` -> (..., 3) ego-frame centres in metres."""
    lo = torch.tensor(range_min_m, dtype=torch.float32, device=index.device)
    size = (torch.tensor(range_max_m, dtype=torch.float32, device=index.device) - lo) / torch.tensor(
        shape, dtype=torch.float32, device=index.device
    )
    return lo + (unravel(index, shape).float() + 0.5) * size


FACE_OFFSETS = torch.tensor([[0, 0, 0], [-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]])
"""(7, 3) the voxel itself and its 6 face neighbours, the stencil of the sparse neighbour mixing."""


def neighbour_slots(index: torch.Tensor, shape: tuple[int, int, int], offsets: torch.Tensor) -> torch.Tensor:
    """Submanifold neighbourhood among a level's listed voxels: (B, M) distinct voxel indices of a level of
    ``shape`` and (K, 3) integer ``offsets`` -> (B, M, K) int64 positions, in the flattened (B * M) list, of
    each voxel's neighbour at each offset; ``B * M`` where that neighbour lies outside the grid or is not
    listed. Looked up in a dense (B, X * Y * Z) table of list positions (a perfect hash of the level)."""
    b, m = index.shape
    n = shape[0] * shape[1] * shape[2]
    batch_key = torch.arange(b, device=index.device).view(b, 1) * n
    table = torch.full((b * n + 1,), b * m, dtype=torch.int64, device=index.device)  # last entry: outside
    table[(index + batch_key).flatten()] = torch.arange(b * m, device=index.device)
    coords = unravel(index, shape).unsqueeze(2) + offsets.to(index.device)  # (B, M, K, 3)
    inside = ((coords >= 0) & (coords < torch.tensor(shape, device=index.device))).all(-1)
    keys = torch.where(inside, ravel(coords, shape) + batch_key.unsqueeze(-1), b * n)
    return table[keys]


def keep_top_k(
    index: torch.Tensor, logits: torch.Tensor, k: int, first: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` of the (B, M) candidate voxels with the highest occupancy logits (B, M); with ``first``
    (B, M) bool, the candidates it marks are kept before any other (by logit among themselves), then the rest
    by logit (GT-guided pruning during training).

    Returns (kept voxel indices (B, k), their slots among the candidates (B, k)), both in candidate order."""
    if k > index.shape[1]:
        raise ValidationError(f"sparse voxel decoder: cannot keep {k} of {index.shape[1]} candidate voxels")
    score = logits.detach()
    if first is not None:  # a lift above the logits' whole range: every marked candidate outranks the others
        score = score + first.to(score.dtype) * (2 * score.abs().amax(dim=1, keepdim=True) + 1)
    slots = score.topk(k, dim=1).indices.sort(dim=1).values
    return index.gather(1, slots), slots


def gather_dense(volume: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values of a dense (B, X, Y, Z) or (B, C, X, Y, Z) volume at (B, K) voxel indices -> (B, K) or (B, C, K)."""
    if volume.dim() == 4:
        return volume.flatten(1).gather(1, index)
    flat = volume.flatten(2)
    return flat.gather(2, index.unsqueeze(1).expand(-1, flat.shape[1], -1))
