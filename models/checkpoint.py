"""Checkpoints without pickle: weights as safetensors, metadata (model name, config, step) as JSON.

``<stem>.safetensors`` holds the network's ``state_dict``; ``<stem>.json`` holds
``{"model": name, "config": {...}, "step": int, ...}``. Optimizer state for ``--resume`` is written
with ``torch.save`` and read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

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


def load_weights(weights: str | Path, net: torch.nn.Module) -> None:
    """Load a safetensors state_dict into ``net`` (strict: every key must match)."""
    p = Path(weights)
    if not p.is_file():
        raise DataError(f"{p}: checkpoint not found")
    try:
        state = load_file(str(p))
    except Exception as e:  # safetensors raises SafetensorError / OSError on corrupt files
        raise DataError(f"{p}: cannot read safetensors ({e})") from e
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(f"{p}: state_dict mismatch; missing {missing[:5]}, unexpected {unexpected[:5]}")


def config_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as a JSON-ready dict."""
    return asdict(config)
