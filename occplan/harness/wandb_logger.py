"""Weights & Biases logging that never stops an evaluation.

Offline by default when the user has no API key (``WANDB_API_KEY`` or a ``~/.netrc`` entry), online
when they have one, or as ``--wandb-mode`` says. Any W&B failure is reported once on stderr and
turns further logging into no-ops.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def default_mode() -> str:
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


class WandbLogger:
    """Thin guard around a wandb run; methods are no-ops when disabled or after a failure."""

    def __init__(self, enabled: bool, project: str, mode: str | None, config: dict[str, Any], run_dir: Path) -> None:
        self.run = None
        self.run_dir: Path | None = None
        if not enabled or mode == "disabled":
            return
        mode = mode or default_mode()

        def _init():
            import wandb

            run_dir.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("WANDB_SILENT", "true")
            return wandb.init(project=project, mode=mode, config=config, dir=str(run_dir), reinit=True)

        self.run = self._guard(_init)
        if self.run is not None:
            self.run_dir = Path(self.run.dir).parent

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as e:  # W&B must never stop the evaluation
            print(f"warning: W&B logging disabled after an error: {type(e).__name__}: {e}", file=sys.stderr)
            self.run = None
            return None

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        if self.run is not None:
            self._guard(lambda: self.run.log(data, step=step))

    def log_image(self, key: str, image: np.ndarray, caption: str = "", step: int | None = None) -> None:
        """Log an (H, W, 3) uint8 image as ``wandb.Image``."""
        if self.run is not None:
            import wandb

            self._guard(lambda: self.run.log({key: wandb.Image(image, caption=caption)}, step=step))

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]], step: int | None = None) -> None:
        if self.run is not None:
            import wandb

            self._guard(lambda: self.run.log({key: wandb.Table(columns=columns, data=rows)}, step=step))

    def summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:

            def _set():
                for k, v in values.items():
                    self.run.summary[k] = v

            self._guard(_set)

    def finish(self) -> None:
        if self.run is not None:
            self._guard(self.run.finish)
            self.run = None
