"""Initialise CONet's two branches from trained single-modality checkpoints (an explicit, opt-in step before
``python -m models.train --model conet --init``).

``python -m models.conet.init_branches --config tiny --lidar models/weights/lidar_tiny.safetensors
--camera models/weights/bevdet_occ_tiny.safetensors --out runs/conet_tiny_branches``

builds a randomly initialised CONet (``--seed``), loads

- the LiDAR branch (``net.lidar``) and its fine head (``net.lidar_head``) from a ``lidar`` checkpoint's ``unet.*``
  and ``head.*`` tensors, and
- the camera branch (``net.camera``: ``image_encoder``, ``view_transformer``, ``voxel_encoder``) from a
  ``bevdet_occ`` checkpoint's tensors under the same names,

each strictly: every tensor of the branch must be present with its shape and no other tensor may carry the prefix,
and the source's config must match the fields that fix the branch's meaning (image size, depth bins, U-Net
widths, sweeps, BEV completion width, the LSS volume = the coarse grid). Fusion, coarse head and cascade stay at
their random init, or, with ``--rest CONET``, every tensor the branches did not give comes from that ``conet``
checkpoint of the same preset (e.g. one trained before a part was added), with the cascade's output layer restarted
at zero: its residual was learned on that network's base prediction. The result is a ``conet`` checkpoint at step 0
whose JSON records, under ``train_config.branch_init``, every source (path, SHA-256, model, step, key prefixes);
``models.train --init`` copies that record into the trained checkpoint's ``init``. Class weights come from the
LiDAR checkpoint (else the camera's, else the rest's): all are computed by ``models.train`` from the split's label
counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

import models
from models.checkpoint import read_meta, read_state, save_checkpoint
from models.conet.model import CONetModel
from occplan.errors import DataError

LIDAR_PREFIXES = {"lidar.": "unet.", "lidar_head.": "head."}
CAMERA_PREFIXES = {f"camera.{m}.": f"{m}." for m in ("image_encoder", "view_transformer", "voxel_encoder")}


def _lidar_fields(model: CONetModel) -> dict[str, Any]:
    """The lidar config fields that fix the U-Net's and fine head's weights and input features (voxels = the Occ3D
    voxels)."""
    c = model.config
    return {
        "channels": list(c.lidar_channels),
        "blocks": c.lidar_blocks,
        "bev_channels": c.lidar_bev_channels,
        "bev_blocks": c.lidar_bev_blocks,
        "n_sweeps": c.n_sweeps,
        "input_voxel_m": model.grid.voxel_size_m,
    }


def _camera_fields(model: CONetModel) -> dict[str, Any]:
    """The bevdet_occ config fields that fix the camera branch (image size, encoder, depth bins, LSS volume)."""
    c = model.config
    names = ("image_wh_px", "backbone_widths", "backbone_blocks", "neck_channels", "voxel_channels")
    fields = {n: list(getattr(c, n)) if isinstance(getattr(c, n), tuple) else getattr(c, n) for n in names}
    return (
        fields
        | {n: getattr(c, n) for n in ("depth_min_m", "depth_max_m", "depth_step_m")}
        | {"up_factor": c.coarse_factor}
    )


def source_record(weights: Path, meta: dict[str, Any], prefixes: dict[str, str] | str) -> dict[str, Any]:
    """What the JSON records of a source checkpoint: path, SHA-256, model, step and the keys taken from it."""
    return {
        "weights": str(weights),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "model": meta.get("model"),
        "step": meta.get("step"),
        "prefixes": prefixes,
    }


def load_branch(
    net: torch.nn.Module, weights: Path, prefixes: dict[str, str], model_name: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Copy the tensors of checkpoint ``weights`` (of model ``model_name`` whose config has ``fields``) under each
    source prefix into ``net``'s keys under the matching target prefix (``prefixes``: target -> source), strictly;
    returns the record of the source. DataError naming the file and the field or keys on any mismatch."""
    meta = read_meta(weights)
    where = weights.with_suffix(".json")
    if meta.get("model") != model_name:
        raise DataError(f"{where}: field 'model' is {meta.get('model')!r}, expected {model_name!r}")
    for name, want in fields.items():
        if meta["config"].get(name) != want:
            raise DataError(f"{where}: config field {name!r} is {meta['config'].get(name)!r}, CONet needs {want!r}")
    source = read_state(weights)
    target = net.state_dict()
    state = {}
    for dst, src in prefixes.items():
        want = {k for k in target if k.startswith(dst)}
        have = {k for k in source if k.startswith(src)}
        missing = sorted(want - {dst + k[len(src) :] for k in have})
        unexpected = sorted(k for k in have if dst + k[len(src) :] not in want)
        if missing or unexpected:
            raise DataError(
                f"{weights}: {src}* does not match {dst}*; missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        for k in have:
            if source[k].shape != target[dst + k[len(src) :]].shape:
                raise DataError(
                    f"{weights}: {k} has shape {tuple(source[k].shape)}, {dst}{k[len(src) :]} needs "
                    f"{tuple(target[dst + k[len(src) :]].shape)}"
                )
            state[dst + k[len(src) :]] = source[k]
    net.load_state_dict(state, strict=False)
    return source_record(weights, meta, prefixes)


def load_rest(model: CONetModel, weights: Path, config_name: str) -> dict[str, Any]:
    """Every tensor of ``model.net`` from a ``conet`` checkpoint of preset ``config_name`` (the tensors it lacks
    keep their values), the cascade's output layer zeroed; returns the record of the source."""
    meta = read_meta(weights)
    where = weights.with_suffix(".json")
    if meta.get("model") != model.name:
        raise DataError(f"{where}: field 'model' is {meta.get('model')!r}, expected {model.name!r}")
    have = read_state(weights)
    own = model.net.state_dict()
    for name, value in meta["config"].items():
        mine = getattr(model.config, name, None)
        if (list(mine) if isinstance(mine, tuple) else mine) != value:
            raise DataError(f"{where}: config field {name!r} is {value!r}, the {config_name} preset has {mine!r}")
    unknown = sorted(k for k in have if k not in own or own[k].shape != have[k].shape)
    if unknown:
        raise DataError(f"{weights}: tensors absent from conet {config_name} or of another shape: {unknown[:5]}")
    model.net.load_state_dict(have, strict=False)
    with torch.no_grad():
        for p in model.net.cascade.mlp[-1].parameters():
            p.zero_()
    return source_record(weights, meta, "every tensor the branches do not give; cascade.mlp output layer zeroed")


def init_branches(
    model: CONetModel, lidar: Path | None, camera: Path | None, rest: Path | None = None, config_name: str = "tiny"
) -> dict[str, Any]:
    """Load the tensors of ``rest`` (a conet checkpoint of preset ``config_name``), then the branches present in
    ``model``'s preset from the given checkpoints; returns the record per source."""
    record: dict[str, Any] = {}
    if rest is not None:
        record["rest"] = load_rest(model, rest, config_name)
    if lidar is not None:
        if not model.uses_lidar:
            raise DataError(f"{lidar}: conet config {model.config.modalities} has no LiDAR branch")
        record["lidar"] = load_branch(model.net, lidar, LIDAR_PREFIXES, "lidar", _lidar_fields(model))
    if camera is not None:
        if not model.uses_cameras:
            raise DataError(f"{camera}: conet config {model.config.modalities} has no camera branch")
        record["camera"] = load_branch(model.net, camera, CAMERA_PREFIXES, "bevdet_occ", _camera_fields(model))
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.conet.init_branches", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="tiny", help="conet preset")
    ap.add_argument("--lidar", type=Path, default=None, help="a lidar checkpoint (.safetensors) for the LiDAR branch")
    ap.add_argument("--camera", type=Path, default=None, help="a bevdet_occ checkpoint for the camera branch")
    ap.add_argument("--rest", type=Path, default=None, help="a conet checkpoint for every other tensor")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random init of the other parts")
    ap.add_argument("--out", type=Path, required=True, help="output stem (writes STEM.safetensors + STEM.json)")
    args = ap.parse_args(argv)
    if args.lidar is None and args.camera is None and args.rest is None:
        ap.error("give --lidar, --camera and/or --rest")
    torch.manual_seed(args.seed)
    model = models.create("conet", config=args.config, weights="random")
    record = init_branches(model, args.lidar, args.camera, args.rest, args.config)
    first = next(p for p in (args.lidar, args.camera, args.rest) if p is not None)
    model.set_class_weights(read_meta(first)["class_weights"])
    meta = {
        **model.meta(),
        "step": 0,
        "train_config": {"branch_init": record, "seed": args.seed, "class_weights_from": str(first)},
        "train_seconds": 0.0,
        "loss_history": [],
    }
    weights = save_checkpoint(args.out, model.net, meta)
    print(json.dumps(record, indent=2))
    print(f"checkpoint: {weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
