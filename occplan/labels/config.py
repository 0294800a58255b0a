"""Settings of the label pipeline (``LabelConfig``) and the grids it can write."""

from __future__ import annotations

from dataclasses import dataclass, field

from occplan.errors import ValidationError
from occplan.types import GridSpec
from occplan.world.generated import OccupancyConfig

GRIDS = {"occ3d_nuscenes": GridSpec.occ3d_nuscenes, "openoccupancy": GridSpec.openoccupancy}
_MASKS = OccupancyConfig()  # the generator's visibility ray sets: generated and exact masks agree by construction


@dataclass(frozen=True)
class LabelConfig:
    """How labels are made (see ``occplan.labels`` for the method).

    ``sweeps``: LiDAR sweeps aggregated per keyframe: None = every sweep of the scene, N = the keyframe's
    sweep and the N - 1 sweeps before it. ``degraded``: keyframes only and geometric labels (no sweeps,
    no lidarseg needed). ``box_margin_m``: growth of annotated boxes for the static / dynamic split.
    ``ego_margin_m``: growth of the ego body whose returns are dropped. ``label_radius_m``: farthest
    labelled static point an unlabelled one takes its label from. ``cell_m``: world cell in which static
    points are pooled before voxelisation (label votes are kept per cell). ``densify``: fill holes of the
    static scene by gap bridging (``ground_bridge_vox`` / ``bridge_vox``: reach in voxels on each side for
    the ground classes along x / y and for all classes along x / y / z; ``occplan.labels.densify``;
    ``bridge_vox`` None: 1 for a window of N sweeps or the degraded mode, 0 with every sweep, where the
    aggregated walls are dense and bridging them adds more false voxels than it fills: docs/LABELS.md).
    ``mask_sweep_offsets``: 20 Hz sweep offsets cast for ``mask_lidar``; ``mask_camera_size_px``: pixel
    rays per camera for ``mask_camera`` (both the generator's).
    """

    grid: GridSpec = field(default_factory=GridSpec.occ3d_nuscenes)
    sweeps: int | None = None
    degraded: bool = False
    densify: bool = True
    with_masks: bool = True
    box_margin_m: float = 0.1
    ego_margin_m: float = 0.3
    label_radius_m: float = 0.5
    cell_m: float = 0.1
    ground_bridge_vox: int = 8
    bridge_vox: int | None = None
    mask_sweep_offsets: tuple[int, ...] = _MASKS.mask_lidar_sweep_offsets
    mask_camera_size_px: tuple[int, int] = _MASKS.mask_camera_size_px

    def __post_init__(self) -> None:
        if self.sweeps is not None and self.sweeps < 1:
            raise ValidationError(f"LabelConfig.sweeps: must be >= 1 or None (all), got {self.sweeps}")
        for name in ("box_margin_m", "ego_margin_m", "label_radius_m", "cell_m"):
            if not getattr(self, name) >= 0:
                raise ValidationError(f"LabelConfig.{name}: must be >= 0, got {getattr(self, name)}")
        if self.cell_m <= 0:
            raise ValidationError(f"LabelConfig.cell_m: must be > 0, got {self.cell_m}")

    @property
    def bridge_reach_vox(self) -> int:
        """``bridge_vox`` with None resolved (see the class docstring)."""
        if self.bridge_vox is not None:
            return self.bridge_vox
        return 0 if self.sweeps is None and not self.degraded else 1

    @property
    def tag(self) -> str:
        """Short name of the variant, e.g. ``all+dense``, ``10+sparse``, ``degraded+dense``."""
        window = "degraded" if self.degraded else ("all" if self.sweeps is None else str(self.sweeps))
        return f"{window}+{'dense' if self.densify else 'sparse'}"
