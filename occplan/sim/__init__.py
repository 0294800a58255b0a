"""The stateless simulation core: ``Simulator`` over frozen ``SimState`` snapshots."""

from occplan.sim.config import IDMConfig, RewardConfig, SimConfig, TrackerConfig
from occplan.sim.dynamics import Control
from occplan.sim.simulator import Simulator
from occplan.sim.state import SimContext, SimState

__all__ = ["Control", "IDMConfig", "RewardConfig", "SimConfig", "SimContext", "SimState", "Simulator", "TrackerConfig"]
