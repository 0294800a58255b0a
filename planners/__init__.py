"""Planner plugins: ``PLANNERS`` maps a name to a factory ``(**kwargs) -> Planner``."""

from __future__ import annotations

from occplan.interfaces import Planner
from occplan.registry import Registry
from planners.constant_velocity import ConstantVelocityPlanner
from planners.log_replay import LogReplayPlanner
from planners.occ_sampler import OccSamplerPlanner
from planners.pdm import PDMPlanner

PLANNERS: Registry[Planner] = Registry("planner")
PLANNERS.register("constant_velocity", ConstantVelocityPlanner)
PLANNERS.register("log_replay", LogReplayPlanner)
PLANNERS.register("occ_sampler", OccSamplerPlanner)
PLANNERS.register("pdm", PDMPlanner)


def create(name: str, **kwargs) -> Planner:
    """Instantiate the planner registered as ``name`` (unknown names list the known ones)."""
    return PLANNERS.create(name, **kwargs)


__all__ = ["PLANNERS", "create"]
