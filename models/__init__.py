"""Perception model plugins: ``MODELS`` registry (oracle, lidar, occnet) and ``create(name, **kw)``.

The torch models are imported only when their factory runs, so ``import models`` stays light.
``lidar`` / ``occnet`` factories take ``config`` ("tiny" | "base" | dict), ``weights`` ("auto" = the
shipped checkpoint, an error naming the file when it is missing; "random" or None = random init; or a
path) and ``device``; the oracle takes no options. ``check_options`` refuses other options before a
model is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from occplan.errors import ValidationError
from occplan.interfaces import PerceptionModel
from occplan.registry import Registry

MODELS: Registry[PerceptionModel] = Registry("perception model")
TORCH_OPTIONS = ("config", "weights", "device")
"""Options of the torch models' factories (``TorchOccModel.from_options``)."""
NO_FILE_WEIGHTS = (None, "auto", "random")
"""``weights`` values that name no checkpoint file (see ``TorchOccModel.from_options``)."""
_OPTIONS: dict[str, tuple[str, ...]] = {}


def _register(name: str, options: tuple[str, ...] = ()) -> Callable:
    """Register a factory under ``name`` with the option names it takes."""

    def add(factory: Callable[..., PerceptionModel]) -> Callable[..., PerceptionModel]:
        MODELS.register(name, factory)
        _OPTIONS[name] = options
        return factory

    return add


@_register("oracle")
def _oracle() -> PerceptionModel:
    from models.oracle import OracleModel

    return OracleModel()


@_register("lidar", TORCH_OPTIONS)
def _lidar(**kw) -> PerceptionModel:
    from models.lidar.model import LidarModel

    return LidarModel.from_options(**kw)


@_register("occnet", TORCH_OPTIONS)
def _occnet(**kw) -> PerceptionModel:
    from models.occnet.model import OccNetModel

    return OccNetModel.from_options(**kw)


def create(name: str, **kw) -> PerceptionModel:
    """``MODELS.create(name, **kw)``."""
    return MODELS.create(name, **kw)


def option_keys(name: str) -> tuple[str, ...]:
    """The options the factory of model ``name`` takes (unknown names list the known ones)."""
    MODELS.factory(name)
    return _OPTIONS[name]


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
