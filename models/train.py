"""Train a perception model.

``python -m models.train --model NAME --data ROOT --split train [--config tiny|base] [--iters N]
[--out DIR] [--resume | --init WEIGHTS]``

Writes ``DIR/<model>_<config>.safetensors`` + ``.json`` (config, step, class weights, loss history,
seconds per iteration) every ``--ckpt-every`` iterations and at the end, plus ``.optim.pt``
(optimizer + scheduler state, read back with ``torch.load(weights_only=True)``) for ``--resume``.
``--init`` fine-tunes: the run starts from another checkpoint's weights and class weights with a fresh
optimizer and schedule of ``--iters`` steps, and its JSON records that checkpoint (path, step, train config,
seconds and its own ``init``) under ``init``; tensors of the network that checkpoint lacks or holds in another
shape (a part added or widened since) start from their initial values and are listed there (``new_parameters``) and
on stdout. Seeds are fixed (``--seed``): Python, NumPy and torch RNGs and the
data order. Class weights come from the GT label counts of the split, or, for a model that declares
``trains_from_2d_labels`` (``renderocc``), from its ``image_label_counts`` of the 2D labels it trains from.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models import MODELS, trainable_models
from models.checkpoint import load_weights, read_meta, save_checkpoint
from models.dataset import OccDataset, label_counts
from models.losses import class_weights_from_counts
from models.torch_base import TorchOccModel
from occplan.errors import DataError


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings: AdamW with one-cycle learning rate over ``iters`` iterations."""

    iters: int = 1000
    batch_size: int = 1
    lr: float = 2e-3
    weight_decay: float = 1e-2
    grad_clip: float = 10.0
    seed: int = 0
    workers: int = 1
    ckpt_every: int = 50
    class_weight_frames: int = 60
    freeze: tuple[str, ...] = ()  # parameter-name prefixes held fixed (no update, batch-norm statistics kept)


WARMUP_FRACTION = 0.1
"""Share of the iterations over which the one-cycle learning rate rises (OneCycleLR's ``pct_start``)."""


def warmup_fraction(iters: int) -> float:
    """``WARMUP_FRACTION``, except for a run whose warm-up would be exactly one step (``--iters 10``):
    torch's OneCycleLR then divides by zero, so that run warms up over two steps."""
    return 2 / iters if WARMUP_FRACTION * iters == 1 else WARMUP_FRACTION


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (seeds third-party code using the legacy global RNG)
    torch.manual_seed(seed)


def batches(dataset: OccDataset, cfg: TrainConfig, start_step: int):
    """Endless shuffled batches; epoch e uses the permutation of seed ``cfg.seed + e``, so a resumed run
    continues the same data order."""
    per_epoch = max(len(dataset) // cfg.batch_size, 1)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        gen = torch.Generator().manual_seed(cfg.seed + epoch)
        sampler = torch.randperm(len(dataset), generator=gen).tolist()[skip * cfg.batch_size :]
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=dataset.collate,
            num_workers=cfg.workers,
            drop_last=True,
        )
        yield from loader
        epoch, skip = epoch + 1, 0


def freeze_modules(net: torch.nn.Module, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Hold the parts of ``net`` named by ``prefixes`` fixed: their parameters stop requiring gradients (and
    :func:`train_mode` keeps their modules in eval mode, so batch-norm running statistics stay). Returns the
    parameters left to optimise. A prefix that names no parameter is an error."""
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in net.named_parameters()):
            raise ValueError(f"--freeze {prefix!r}: no parameter of {type(net).__name__} starts with it")
    trainable = []
    for name, param in net.named_parameters():
        frozen = name.startswith(prefixes)
        param.requires_grad_(not frozen)
        if not frozen:
            trainable.append(param)
    return trainable


def train_mode(net: torch.nn.Module, frozen: tuple[str, ...]) -> None:
    """``net.train()``, except modules under a frozen prefix, which stay in eval mode."""
    net.train()
    for name, module in net.named_modules():
        if name and f"{name}.".startswith(frozen):
            module.eval()


def train(
    model: TorchOccModel, dataset: OccDataset, cfg: TrainConfig, stem: Path, resume: bool, init: Path | None = None
) -> dict:
    """Train ``model`` in place, from ``init``'s weights when given (fine-tuning); returns the final metadata
    written beside the checkpoint."""
    seed_everything(cfg.seed)
    opt = torch.optim.AdamW(freeze_modules(model.net, cfg.freeze), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.iters, pct_start=warmup_fraction(cfg.iters)
    )
    weights, optim_path = stem.with_suffix(".safetensors"), stem.with_suffix(".optim.pt")
    step, history, seconds, init_record = 0, [], 0.0, None
    if resume and weights.is_file():
        meta = read_meta(weights)
        init_record = meta.get("init")
        load_weights(weights, model.net)
        model.set_class_weights(meta["class_weights"])
        state = torch.load(optim_path, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        phases = sched._schedule_phases  # the phase ends of this run's --iters
        sched.load_state_dict(state["scheduler"])
        sched.total_steps, sched._schedule_phases = cfg.iters, phases  # a longer --iters stretches the schedule
        sched.last_epoch -= 1
        sched.step()  # the learning rate of the current step on the (stretched) schedule
        step, history, seconds = meta["step"], meta["loss_history"], meta["train_seconds"]
        torch.manual_seed(cfg.seed + step)
    elif init is not None:
        prior = read_meta(init)
        if prior.get("model") != model.name:
            found, where = prior.get("model"), init.with_suffix(".json")
            raise DataError(f"{where}: field 'model' is {found!r}, expected {model.name!r}")
        added = load_weights(init, model.net, allow_new=True)
        model.set_class_weights(prior["class_weights"])
        init_record = {k: prior.get(k) for k in ("step", "train_config", "train_seconds", "init")}  # a chain
        init_record["weights"] = str(init)
        if added:
            print(f"--init {init}: absent or of another shape there, starting from their initial values: {added}")
            init_record["new_parameters"] = added
    else:
        frames = dataset.frames[:: max(len(dataset) // cfg.class_weight_frames, 1)]
        if getattr(model, "trains_from_2d_labels", False):  # no 3D label read: counts of the model's 2D labels
            counts = model.image_label_counts(dataset.source, frames)
        else:
            counts = label_counts(dataset.source, frames, model.labels.num_classes)
        model.set_class_weights(class_weights_from_counts(counts))

    def checkpoint() -> dict:
        meta = {
            **model.meta(),
            "step": step,
            "train_config": cfg.__dict__,
            "loss_history": history,
            "train_seconds": seconds,
            "seconds_per_iter": seconds / max(step, 1),
            "num_parameters": model.num_parameters(),
            "data": str(dataset.source.dataroot),
            "num_samples": len(dataset),
            **({"init": init_record} if init_record else {}),
        }
        save_checkpoint(stem, model.net, meta)
        torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, optim_path)
        return meta

    train_mode(model.net, cfg.freeze)
    meta = {}
    bar = tqdm(total=cfg.iters, initial=step, desc=f"train {model.name}", dynamic_ncols=True)
    data = batches(dataset, cfg, step)
    running = None
    while step < cfg.iters:
        inputs, targets = next(data)
        t0 = time.perf_counter()
        out = model.training_forward(inputs, targets)
        loss, parts = model.loss(out, targets)
        opt.zero_grad(set_to_none=True)
        model.backward(loss)
        torch.nn.utils.clip_grad_norm_([p for p in model.net.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()
        sched.step()
        seconds += time.perf_counter() - t0
        step += 1
        value = float(loss.detach())
        running = value if running is None else 0.95 * running + 0.05 * value
        history.append(round(value, 5))
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", **{k: f"{v:.3f}" for k, v in list(parts.items())[:3]})
        if step % cfg.ckpt_every == 0 or step == cfg.iters:
            meta = checkpoint()
    bar.close()
    model.net.eval()
    return meta or checkpoint()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=trainable_models(), help="a trainable registered model")
    ap.add_argument("--data", required=True, help="nuScenes-format dataroot")
    ap.add_argument("--version", default=None, help="table version (default: the dataroot's only v1.0-* folder)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--config", default="tiny", help="preset: tiny | base")
    ap.add_argument("--iters", type=int, default=TrainConfig.iters)
    ap.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--workers", type=int, default=TrainConfig.workers)
    ap.add_argument("--ckpt-every", type=int, default=TrainConfig.ckpt_every)
    ap.add_argument(
        "--freeze",
        action="append",
        default=[],
        metavar="PREFIX",
        help="hold parameters whose name starts with PREFIX fixed (repeatable), e.g. a pretrained branch",
    )
    ap.add_argument("--max-frames", type=int, default=None, help="use only the first N keyframes")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs", help="output directory")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true")
    group.add_argument("--init", type=Path, default=None, help="fine-tune from this checkpoint's weights")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from models.evaluate import open_source

    cfg = TrainConfig(
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        workers=args.workers,
        ckpt_every=args.ckpt_every,
        freeze=tuple(args.freeze),
    )
    seed_everything(cfg.seed)
    model = MODELS.create(args.model, config=args.config, weights=None, device=args.device)
    source = open_source(args.data, args.version)
    dataset = OccDataset(source, args.split, model, args.max_frames)
    stem = Path(args.out) / f"{args.model}_{args.config}"
    meta = train(model, dataset, cfg, stem, args.resume, args.init)
    print(json.dumps({k: meta[k] for k in ("model", "step", "seconds_per_iter", "num_parameters")}, indent=2))
    print(f"checkpoint: {stem.with_suffix('.safetensors')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
