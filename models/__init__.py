"""Perception model plugins: ``MODELS`` registry (oracle, lidar, occnet) and ``create(name, **kw)``.

The torch models are imported only when their factory runs, so ``import models`` stays light.
``lidar`` / ``occnet`` factories take ``config`` ("tiny" | "base" | dict), ``weights`` ("auto" = the
shipped checkpoint, an error naming the file when it is missing; "random" or None = random init; or a
path) and ``device``.
"""

from __future__ import annotations

from occplan.interfaces import PerceptionModel
from occplan.registry import Registry

MODELS: Registry[PerceptionModel] = Registry("perception model")


@MODELS.register("oracle")
def _oracle(**kw) -> PerceptionModel:
    from models.oracle import OracleModel

    return OracleModel(**kw)


@MODELS.register("lidar")
def _lidar(**kw) -> PerceptionModel:
    from models.lidar.model import LidarModel

    return LidarModel.from_options(**kw)


@MODELS.register("occnet")
def _occnet(**kw) -> PerceptionModel:
    from models.occnet.model import OccNetModel

    return OccNetModel.from_options(**kw)


def create(name: str, **kw) -> PerceptionModel:
    """``MODELS.create(name, **kw)``."""
    return MODELS.create(name, **kw)
