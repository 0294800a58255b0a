"""A small synthetic scene for model tests: flat road, one moving car, LiDAR from two sweeps and six
low-resolution cameras, with matching Occ3D ground truth."""

from __future__ import annotations

import numpy as np

from occplan.types import (
    CAMERA_CHANNELS,
    CameraFrame,
    EgoState,
    GridSpec,
    LabelSet,
    LidarSweep,
    OccupancyFrame,
    Pose,
    SensorFrame,
)

CAR_MIN_M = np.array([8.0, -1.0, 0.0])
CAR_MAX_M = np.array([12.0, 1.0, 1.6])
CAR_VELOCITY_MPS = np.array([5.0, 0.0])
IMAGE_W_PX, IMAGE_H_PX = 160, 90


def _cameras(rng: np.random.Generator) -> tuple[CameraFrame, ...]:
    cams = []
    k = np.array([[100.0, 0.0, IMAGE_W_PX / 2], [0.0, 100.0, IMAGE_H_PX / 2], [0.0, 0.0, 1.0]])
    # camera (x right, y down, z forward) -> ego (x forward, y left, z up), then yawed
    cam_to_ego_axes = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    for i, ch in enumerate(CAMERA_CHANNELS):
        yaw = np.deg2rad([0, -55, 55, 180, 110, -110][i])
        rz = Pose.from_xy_yaw(0.0, 0.0, yaw).rotation
        pose = Pose(rz @ cam_to_ego_axes, np.array([1.5, 0.0, 1.5]))
        img = rng.integers(0, 255, (IMAGE_H_PX, IMAGE_W_PX, 3), dtype=np.uint8)
        cams.append(CameraFrame(ch, k.copy(), pose, IMAGE_W_PX, IMAGE_H_PX, image=img))
    return tuple(cams)


def _lidar(rng: np.random.Generator) -> LidarSweep:
    n_ground = 6000
    ground = np.column_stack(
        [rng.uniform(-35, 35, n_ground), rng.uniform(-35, 35, n_ground), rng.uniform(0.0, 0.3, n_ground)]
    )
    car = rng.uniform(CAR_MIN_M, CAR_MAX_M, (800, 3))
    key = np.concatenate([ground, car])
    prev = np.concatenate([ground, car - np.array([CAR_VELOCITY_MPS[0] * 0.05, 0.0, 0.0])])
    xyz = np.concatenate([key, prev])
    intensity = rng.uniform(0, 100, (len(xyz), 1))
    ring = rng.integers(0, 32, (len(xyz), 1)).astype(np.float64)
    points = np.concatenate([xyz, intensity, ring], axis=1).astype(np.float32)
    lag = np.concatenate([np.zeros(len(key)), np.full(len(prev), 0.05)]).astype(np.float32)
    idx = np.concatenate([np.zeros(len(key)), np.ones(len(prev))]).astype(np.int16)
    return LidarSweep(points, lag, np.array([[0.9, 0.0, 1.8], [0.65, 0.0, 1.8]]), idx)


def ground_truth() -> OccupancyFrame:
    """Occ3D labels: driveable_surface at z in [-0.2, 0.2), the car box, free elsewhere."""
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    centres = grid.all_centers()
    sem = np.full(grid.shape, labels.free_index, np.uint8)
    sem[:, :, 2] = labels.index("driveable_surface")
    in_car = np.all((centres >= CAR_MIN_M) & (centres <= CAR_MAX_M), axis=-1)
    sem[in_car] = labels.index("car")
    flow = np.zeros((*grid.shape, 2), np.float32)
    flow[in_car] = CAR_VELOCITY_MPS
    ones = np.ones(grid.shape, bool)
    return OccupancyFrame(sem, grid, labels, flow=flow, mask_lidar=ones, mask_camera=ones.copy(), source="synth")


def lidarseg(frame: SensorFrame) -> np.ndarray:
    """Challenge labels of the keyframe points: car (4) inside the car box, driveable_surface (11) else."""
    key = frame.lidar.points[frame.lidar.sweep_index == 0, :3]
    in_car = np.all((key >= CAR_MIN_M - 1e-6) & (key <= CAR_MAX_M + 1e-6), axis=1)
    return np.where(in_car, 4, 11).astype(np.uint8)


def sensor_frame(seed: int = 0, with_ground_truth: bool = False) -> SensorFrame:
    rng = np.random.default_rng(seed)
    return SensorFrame(
        scene_name="synth",
        sample_token=f"synth{seed}",
        time_us=1_000_000,
        world_from_ego=Pose.identity(),
        ego_state=EgoState(1_000_000, 0.0, 0.0, 0.0, speed_mps=3.0),
        lidar=_lidar(rng),
        cameras=_cameras(rng),
        ground_truth=ground_truth() if with_ground_truth else None,
    )
