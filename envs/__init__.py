"""Gymnasium adapter ``OccDrive-v0`` over ``occplan.sim`` (registered on ``import occplan`` or ``import envs``)."""

import occplan  # noqa: F401  (registers OccDrive-v0)

ENV_IDS = ("OccDrive-v0",)
