"""Gymnasium adapter ``OccDrive-v0`` over ``occplan.sim`` (registered by ``envs.registration``)
and its single-purpose wrappers: ``BEVObservation`` and ``NormalizedAction`` for learning (docs/RL.md),
``RichInfo`` for the simulator's objects in ``info``."""

from envs.bev import BEV_INPUTS, BEVObservation
from envs.normalized_action import NormalizedAction
from envs.registration import ENV_IDS
from envs.rich_info import RichInfo

__all__ = ["BEV_INPUTS", "ENV_IDS", "BEVObservation", "NormalizedAction", "RichInfo"]
