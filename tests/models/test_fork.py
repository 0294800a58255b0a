"""Torch models in forked processes: a child forked after the parent ran a parallel torch op must not
wait forever in GNU OpenMP (``models`` drops forked children to one intra-op thread), so
``gym.make_vec(..., vectorization_mode="async")`` with a torch perception model runs on Linux's default
fork context."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import textwrap

import pytest
import torch

import models

HANG_GUARD_S = 300  # a deadlocked child never finishes; this bounds the test instead of hanging the run


def _child(queue) -> None:
    model = models.create("occnet")
    y = torch.randn(4000, 400) * 0.02
    queue.put((torch.get_num_threads(), float((y @ y.T).sum()), type(model).__name__))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork start method on this platform")
def test_forked_child_runs_torch_after_parent_used_the_pool():
    torch.randn(4000, 400) * 0.02  # the parent enters an OpenMP parallel region first
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    child.join(HANG_GUARD_S)
    if child.is_alive():
        child.kill()
        pytest.fail("forked child deadlocked in a torch op")
    threads, total, name = queue.get(timeout=10)
    assert child.exitcode == 0 and threads == 1 and name == "OccNetModel" and total > 0


def test_async_vector_env_with_a_torch_model(tiny_dataroot):
    script = textwrap.dedent(f"""
        import gymnasium as gym
        import occplan
        env = gym.make_vec("OccDrive-v0", num_envs=2, vectorization_mode="async",
                           dataroot={str(tiny_dataroot)!r}, perception="occnet")
        obs, _ = env.reset(seed=0)
        obs, reward, *_ = env.step(env.action_space.sample())
        print(obs["occupancy"].shape, reward.shape)
        env.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "(2, 200, 200, 16) (2,)"
