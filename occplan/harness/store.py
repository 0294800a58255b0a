"""Run directory: config.json, results.jsonl (one line per finished scenario), summary.json.

Each scenario's line is appended and fsync'ed as soon as it finishes, so a killed run loses at most
the scenario in flight; ``--resume`` skips the scenarios already recorded. A resumed run must have
the same config identity (model, planner, data, split, mode, agents, seed ...).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from occplan.errors import ValidationError
from occplan.harness.config import RunConfig


class RunStore:
    """Append-only per-scenario results of one run in ``out_dir``."""

    def __init__(self, out_dir: str | Path, config: RunConfig) -> None:
        self.dir = Path(out_dir)
        self.results_path = self.dir / "results.jsonl"
        self.config_path = self.dir / "config.json"
        self.config = config

    def open(self) -> dict[str, dict[str, Any]]:
        """Prepare the directory; return the already-finished scenario records (resume) or {}.

        Without ``resume`` an existing results file is an error (never overwritten silently).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.config.resume:
            if self.results_path.exists() and self.results_path.stat().st_size > 0:
                raise ValidationError(
                    f"{self.results_path}: a run already exists here; pass --resume to continue it "
                    "or choose another --out"
                )
            self.config_path.write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True))
            self.results_path.write_text("")
            return {}
        if self.config_path.exists():
            saved = json.loads(self.config_path.read_text())
            saved_id = {k: saved.get(k) for k in self.config.identity()}
            if saved_id != self.config.identity():
                diff = {k: (saved_id[k], v) for k, v in self.config.identity().items() if saved_id[k] != v}
                raise ValidationError(f"{self.config_path}: --resume with a different config: {diff}")
        else:
            self.config_path.write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True))
        return self._read_records()

    def _read_records(self) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        if not self.results_path.exists():
            return done
        lines = self.results_path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # a line cut by a kill: that scenario is simply re-run
                    print(f"{self.results_path}: discarding an incomplete last record", file=sys.stderr)
                    self._truncate_to(lines[:i])
                    break
                raise ValidationError(f"{self.results_path}: line {i + 1} is not valid JSON") from None
            done[rec["scenario"]] = rec
        return done

    def _truncate_to(self, lines: list[str]) -> None:
        self.results_path.write_text("".join(line + "\n" for line in lines if line.strip()))

    def append(self, record: dict[str, Any]) -> None:
        with self.results_path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write_json(self, name: str, payload: dict[str, Any]) -> Path:
        p = self.dir / name
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
        tmp.replace(p)
        return p
