"""Perception model plugins: the ``MODELS`` registry and ``create(name, **kw)``.

A model is one package plus one ``register_model(name, "module:Class")`` line below. The class
declares what the framework needs to know (``PerceptionModel`` class attributes): ``trainable``,
``temporal``, ``inputs``, ``privileged`` and ``option_names``; the registry imports the class only when
it is asked for, so ``import models`` stays light (no torch).

The torch models (``TorchOccModel``) take ``config`` ("tiny" | "base" | dict), ``weights`` ("auto" =
the shipped checkpoint, an error naming the file when it is missing; "random" or None = random init; or
a path) and ``device``; the oracle takes no options. ``check_options`` refuses other options before a
model is built.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from occplan.errors import ValidationError
from occplan.interfaces import PerceptionModel
from occplan.registry import Registry

MODELS: Registry[PerceptionModel] = Registry("perception model")
NO_FILE_WEIGHTS = (None, "auto", "random")
"""``weights`` values that name no checkpoint file (see ``TorchOccModel.from_options``)."""
_CLASS_PATHS: dict[str, str] = {}


def _torch_one_thread_after_fork() -> None:
    """In a process forked from one that has run a parallel torch op, the child's next parallel op
    waits forever (GNU OpenMP's thread pool is not fork-safe); with one intra-op thread torch runs
    its ops without the pool. So forked children of a process that imported torch (``AsyncVectorEnv``'s
    default context on Linux, fork-based process pools) run the models on one thread each, as torch's
    own DataLoader workers do."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


os.register_at_fork(after_in_child=_torch_one_thread_after_fork)


def register_model(name: str, class_path: str) -> None:
    """Register the PerceptionModel class at ``class_path`` ("package.module:Class") under ``name``; its
    ``from_options`` is the factory."""

    def factory(**options: Any) -> PerceptionModel:
        return model_class(name).from_options(**options)

    MODELS.register(name, factory)
    _CLASS_PATHS[name] = class_path


def model_class(name: str) -> type[PerceptionModel]:
    """The class registered under ``name`` (imported now; unknown names list the known ones)."""
    MODELS.factory(name)
    module, _, attr = _CLASS_PATHS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


register_model("alocc", "models.alocc.model:ALOccModel")
register_model("bevdet_occ", "models.bevdet_occ.model:BevDetOccModel")
register_model("conet", "models.conet.model:CONetModel")
register_model("bevformer_occ", "models.bevformer_occ.model:BevFormerOccModel")
register_model("flashocc", "models.flashocc.model:FlashOccModel")
register_model("oracle", "models.oracle:OracleModel")
register_model("renderocc", "models.renderocc.model:RenderOccModel")
register_model("lidar", "models.lidar.model:LidarModel")
register_model("occnet", "models.occnet.model:OccNetModel")
register_model("sparseocc", "models.sparseocc.model:SparseOccModel")


def create(name: str, **kw) -> PerceptionModel:
    """``MODELS.create(name, **kw)``."""
    return MODELS.create(name, **kw)


def create_with_options(name: str, options: Mapping[str, Any]) -> PerceptionModel:
    """``create(name, **options)``: the factory convention the harness shares with
    ``planners.create_with_options`` (``occplan.harness.plugins.PluginFactory``)."""
    return create(name, **options)


def trainable_models() -> list[str]:
    """Names of the registered models ``python -m models.train`` trains."""
    return [name for name in MODELS.names() if model_class(name).trainable]


def option_keys(name: str) -> tuple[str, ...]:
    """The options the factory of model ``name`` takes (unknown names list the known ones)."""
    return model_class(name).option_names


def check_options(name: str, options: Mapping[str, Any], where: str) -> None:
    """ValidationError for an option model ``name`` does not take (listing the ones it takes) or a
    ``weights`` path that is not a file (naming it); ``where`` names the options in the message."""
    valid = option_keys(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValidationError(
            f"{where}: model {name!r} takes no option(s) {unknown}; valid: {', '.join(valid) or '(none)'}"
        )
    weights = options.get("weights", "auto")
    if isinstance(options.get("config"), Mapping) and weights == "auto":
        raise ValidationError(
            f"{where}: model {name!r} with a config mapping (not a preset name) needs weights=PATH or 'random'; "
            "the shipped weights belong to a preset"
        )
    if weights in NO_FILE_WEIGHTS:
        return
    if not isinstance(weights, str | Path):
        raise ValidationError(f"{where} 'weights': expected a path, 'auto' or 'random', got {weights!r}")
    if not Path(weights).is_file():
        raise ValidationError(f"{weights}: weights file of model {name!r} not found ({where} 'weights')")
