"""``python -m occplan.bench models [--data ROOT] [--frames N] [--train-iters N] [--models a,b] [--threads N]``

Per model (every trainable registered model unless ``--models`` names some; tiny config, shipped
weights): inference ms per frame on CPU (and on GPU when one is available), batch 1, ``predict`` as the
harness calls it (encoding, network, decoding), with ``--threads`` torch intra-op threads, as wall ms and as
process CPU ms (with ``--threads 1`` the CPU figure is the one other load on the machine does not inflate); parameter
counts of the tiny and base configs; training seconds per iteration (batch 1, CPU; ``--train-iters 0``
skips it). Frames come from the val split of ``--data`` (default: the generated
"tiny" dataset). torch is imported only when the benchmark runs.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def run(args: list[str]) -> dict:
    import torch

    from models import MODELS, trainable_models
    from models.dataset import keyframes, load_sample
    from models.evaluate import open_source

    ap = argparse.ArgumentParser(prog="python -m occplan.bench models")
    ap.add_argument("--data", default=None)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--train-iters", type=int, default=3)
    ap.add_argument("--models", default=None, help="comma-separated names (default: every trainable model)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    a = ap.parse_args(args)
    if a.threads:
        torch.set_num_threads(a.threads)
    names = a.models.split(",") if a.models else trainable_models()
    if a.data is None:
        from scenarios.datasets import ensure

        a.data = str(ensure("tiny"))
    source = open_source(a.data)
    frames = keyframes(source, "val", a.frames)
    out: dict = {"data": a.data, "torch_threads": torch.get_num_threads(), "frames": len(frames)}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MODELS.create(name, config="tiny")
            base = MODELS.create(name, config="base", weights=None)
        out[f"{name}/params_tiny"] = model.num_parameters()
        out[f"{name}/params_base"] = base.num_parameters()
        del base
        samples = [load_sample(source, f, model) for f in frames]
        for dev in devices:
            model.net.to(dev)
            model.device = torch.device(dev)
            model.predict(samples[0][0])  # warm-up
            ms, cpu_ms = [], []
            for sensor, _, _ in samples:
                t0, c0 = time.perf_counter(), time.process_time()
                model.predict(sensor)
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu_ms.append((time.process_time() - c0) * 1e3)
            out[f"{name}/infer_ms_{dev}"] = float(np.median(ms))
            out[f"{name}/infer_cpu_ms_{dev}"] = float(np.median(cpu_ms))  # robust to other load at --threads 1
        model.net.to("cpu")
        model.device = torch.device("cpu")
        if not a.train_iters:
            continue
        model.net.train()
        opt = torch.optim.AdamW(model.net.parameters(), lr=1e-4)
        batch = model.collate([model.encode(samples[0][0])])
        targets = model.collate_targets([model.targets(*samples[0])])

        def step(m=model, o=opt, b=batch, t=targets) -> None:
            loss, _ = m.loss(m.forward(b), t)
            o.zero_grad()
            m.backward(loss)
            o.step()

        step()  # warm-up
        out[f"{name}/train_s_per_iter_cpu"] = _median_ms(step, a.train_iters) / 1e3
        model.net.eval()
    return out
