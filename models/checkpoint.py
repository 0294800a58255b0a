"""Checkpoints without pickle: weights as safetensors, metadata (model name, config, step) as JSON.

``<stem>.safetensors`` holds the network's ``state_dict``; ``<stem>.json`` holds
``{"model": name, "config": {...}, "step": int, ...}``. Optimizer state for ``--resume`` is written
with ``torch.save`` and read back with ``torch.load(weights_only=True)``.

``python -m models.checkpoint --half IN.safetensors OUT.safetensors`` writes a copy whose learned float32 tensors
(``*.weight``, ``*.bias`` and other parameters) are stored as float16, the batch-norm statistics kept in float32,
and the JSON beside it with ``stored_half: true``: a shipped checkpoint that would exceed its size budget. Loading
casts the tensors back to the network's float32. ``--drop PREFIX`` (repeatable) leaves out the tensors whose name
starts with PREFIX (listed under ``dropped`` in the JSON): the parts a changed network no longer has, so that the copy
can start a fine-tuning with ``models.train --init``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from occplan.errors import DataError


def save_checkpoint(stem: str | Path, net: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``stem.safetensors`` + ``stem.json``; returns the safetensors path."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    weights = stem.with_suffix(".safetensors")
    save_file(state, str(weights))
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return weights


def read_meta(weights: str | Path) -> dict[str, Any]:
    """The JSON metadata beside a ``.safetensors`` file."""
    meta_path = Path(weights).with_suffix(".json")
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: checkpoint metadata not found (expected beside {Path(weights).name})")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{meta_path}: invalid JSON ({e})") from e


def read_state(weights: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; DataError naming the file when it is missing or unreadable."""
    if not weights.is_file():
        raise DataError(f"{weights}: checkpoint not found")
    try:
        return load_file(str(weights))
    except Exception as e:  # safetensors raises SafetensorError / OSError on corrupt files
        raise DataError(f"{weights}: cannot read safetensors ({e})") from e


def load_weights(weights: str | Path, net: torch.nn.Module, allow_new: bool = False) -> list[str]:
    """Load a safetensors state_dict into ``net``: every key must match, except that with ``allow_new`` the
    tensors of ``net`` absent from the file or of another shape there keep their initial values (a fine-tuning
    start from a checkpoint of the network before a part was added or widened). Returns those keys (empty when
    strict); a key of the file that ``net`` lacks is always an error."""
    p = Path(weights)
    state = read_state(p)
    if allow_new:
        own = net.state_dict()
        state = {k: v for k, v in state.items() if k not in own or own[k].shape == v.shape}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or (missing and not allow_new):
        raise DataError(f"{p}: state_dict mismatch; missing {missing[:5]}, unexpected {unexpected[:5]}")
    return list(missing)


def config_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as a JSON-ready dict."""
    return asdict(config)


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 tensors of ``state`` as float16, except batch-norm statistics (``running_*``), which keep float32
    (their variances can fall below float16's normal range); other dtypes unchanged."""
    return {k: v.half() if v.dtype == torch.float32 and ".running_" not in k else v for k, v in state.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.checkpoint", description="Rewrite a checkpoint.")
    ap.add_argument("src", type=Path, metavar="IN", help="a .safetensors checkpoint (its JSON beside it)")
    ap.add_argument("dst", type=Path, metavar="OUT", help="the copy to write (and its JSON)")
    ap.add_argument("--half", action="store_true", help="learned float32 tensors as float16")
    ap.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="PREFIX",
        help="leave out the tensors whose name starts with PREFIX (repeatable): parts a changed network no longer "
        "has, before --init",
    )
    args = ap.parse_args(argv)
    if not args.half and not args.drop:
        ap.error("nothing to do: give --half and/or --drop PREFIX")
    src, dst = args.src, args.dst
    meta = read_meta(src)
    state = read_state(src)
    for prefix in args.drop:
        if not any(k.startswith(prefix) for k in state):
            raise DataError(f"{src}: no tensor name starts with --drop {prefix!r}")
    dropped = sorted(k for k in state if any(k.startswith(p) for p in args.drop))
    state = {k: v for k, v in state.items() if k not in dropped}
    if args.half:
        state = half_state(state)
        meta = {**meta, "stored_half": True}
    if dropped:
        meta = {**meta, "dropped": dropped}
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dst))
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    print(f"{dst}: {dst.stat().st_size:,} bytes (was {src.stat().st_size:,}), {len(dropped)} tensors dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
