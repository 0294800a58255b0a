"""PPO (Stable-Baselines3, ``MultiInputPolicy``) on OccDrive-v0's bird's-eye-view observation with
normalised control actions.

    python -m envs.examples.ppo_bev --timesteps 20000 --out runs/ppo_bev.zip

Each env: ``gym.make("OccDrive-v0", action_type="control", observation=BEV_INPUTS)`` (oracle
occupancy), wrapped in ``BEVObservation`` (a (7, H, W) uint8 image + ego state + command, which SB3's
CNN extractor takes as is) and ``NormalizedAction`` ([-1, 1] -> acceleration, steering rate).
Default data: the generated "tiny" set (``--data`` for any nuScenes-format dataroot). Needs the
``dev`` extra (stable-baselines3).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym

from envs import BEV_INPUTS, BEVObservation, NormalizedAction


def make_env(dataroot: str | Path, split: str | None = None, pool: int = 2) -> gym.Env:
    """The learning env: BEV observation (``pool`` grid cells per pixel side), normalised controls."""
    env = gym.make("OccDrive-v0", dataroot=str(dataroot), split=split, action_type="control", observation=BEV_INPUTS)
    return NormalizedAction(BEVObservation(env, pool=pool))


def build(env: gym.Env, seed: int = 0, n_steps: int = 256, batch_size: int = 64):
    """An untrained PPO model (``MultiInputPolicy``: NatureCNN on ``bev``, MLP on the rest) on the CPU."""
    from stable_baselines3 import PPO

    return PPO("MultiInputPolicy", env, n_steps=n_steps, batch_size=batch_size, seed=seed, device="cpu", verbose=0)


def train(env: gym.Env, timesteps: int, seed: int = 0):
    """A PPO model trained for ``timesteps`` env steps on ``env``."""
    return build(env, seed).learn(total_timesteps=timesteps)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m envs.examples.ppo_bev", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data",
        "--dataroot",
        dest="dataroot",
        default=None,
        help="nuScenes-format dataroot (default: the generated tiny set)",
    )
    p.add_argument("--split", default=None, help="scene split (default: every scene)")
    p.add_argument("--timesteps", type=int, default=20_000)
    p.add_argument("--pool", type=int, default=2, help="grid cells per BEV pixel side (2: 100 x 100 pixels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/ppo_bev.zip", help="where to save the trained model")
    a = p.parse_args(argv)
    if a.dataroot is None:
        from scenarios.datasets import ensure

        a.dataroot = ensure("tiny")
    model = train(make_env(a.dataroot, a.split, a.pool), a.timesteps, a.seed)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()
