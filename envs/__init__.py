"""Gymnasium adapter ``OccDrive-v0`` over ``occplan.sim`` (registered on ``import occplan`` or ``import envs``)
and its single-purpose wrappers: ``BEVObservation`` and ``NormalizedAction`` for learning (docs/RL.md),
``RichInfo`` for the simulator's objects in ``info``."""

import occplan  # noqa: F401  (registers OccDrive-v0)
from envs.bev import BEV_INPUTS, BEVObservation
from envs.normalized_action import NormalizedAction
from envs.rich_info import RichInfo

ENV_IDS = ("OccDrive-v0",)
__all__ = ["BEV_INPUTS", "ENV_IDS", "BEVObservation", "NormalizedAction", "RichInfo"]
