"""Weights & Biases logging that never stops or stalls an evaluation.

``--wandb-mode`` decides when given. Otherwise (automatic mode) the run logs online only when the
user has an API key (``WANDB_API_KEY`` or a ``~/.netrc`` entry) and the W&B server (``WANDB_BASE_URL``,
default api.wandb.ai) accepts a TCP connection within ``PROBE_TIMEOUT_S``; else it logs offline
(upload later with ``wandb sync``). Any W&B failure is reported once on stderr and turns further
logging into no-ops.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

DEFAULT_BASE_URL = "https://api.wandb.ai"
PROBE_TIMEOUT_S = 2.0


def has_api_key() -> bool:
    """True when ``WANDB_API_KEY`` is set or ``~/.netrc`` holds an api.wandb.ai entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def server_reachable(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``host:port`` accepts a TCP connection within ``timeout_s``. The name lookup runs in the
    same daemon thread, so a slow resolver cannot hold the caller longer than ``timeout_s`` either."""
    answered: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                answered.append(True)
        except OSError:
            pass

    probe = threading.Thread(target=connect, name="wandb-probe", daemon=True)
    probe.start()
    probe.join(timeout_s)
    return bool(answered)


def default_mode() -> str:
    """The automatic mode: "online" with an API key and a reachable W&B server, else "offline"."""
    if not has_api_key():
        return "offline"
    url = urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL)
    host, port = url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)
    if server_reachable(host, port):
        return "online"
    print(
        f"W&B: {host}:{port} not reachable within {PROBE_TIMEOUT_S:g} s; logging offline "
        "(upload later with `wandb sync`, or pass --wandb-mode online)",
        file=sys.stderr,
    )
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
