"""Registers the Gymnasium environments of ``envs`` (``ENV_IDS``) by entry-point string: the adapter
module is imported only when an environment is made.

Imported by ``import envs``, by ``gym.make("envs:OccDrive-v0")`` and by ``import occplan`` once
gymnasium is imported (``occplan._register_envs``); Gymnasium 1.x reads no ``gymnasium.envs`` entry
points from package metadata, so one of these imports registers the ids.
"""

from __future__ import annotations

import gymnasium

ENTRY_POINTS = {"OccDrive-v0": "envs.occdrive:OccDriveEnv"}
ENV_IDS = tuple(ENTRY_POINTS)

for _env_id, _entry_point in ENTRY_POINTS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point)
