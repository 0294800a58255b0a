"""Run directory: config.json, results.jsonl (one line per finished scenario), summary.json.

Each scenario's line is appended and fsync'ed as soon as it finishes, so a killed run loses at most
the scenario in flight; ``--resume`` skips the scenarios already recorded. A resumed run must have
the same config identity (model, planner, data, split, mode, agents, seed ...). config.json and
summary.json are replaced atomically (temporary file + rename), never left half written.
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
            self.write_json(self.config_path.name, self.config.to_dict())
            self.results_path.write_text("")
            return {}
        if self.config_path.exists():
            saved = self._saved_config()
            saved_id = {k: saved.get(k) for k in self.config.identity()}
            if saved_id != self.config.identity():
                diff = {k: (saved_id[k], v) for k, v in self.config.identity().items() if saved_id[k] != v}
                raise ValidationError(f"{self.config_path}: --resume with a different config: {diff}")
        else:
            self.write_json(self.config_path.name, self.config.to_dict())
        return self._read_records()

    def _saved_config(self) -> dict[str, Any]:
        """The recorded config.json; ValidationError naming the file when it is not a JSON object."""
        try:
            saved = json.loads(self.config_path.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise ValidationError(
                f"{self.config_path}: not valid JSON ({e}), so --resume cannot check that the run's config matches; "
                "restore the file, or start a new run with another --out"
            ) from None
        if not isinstance(saved, dict):
            raise ValidationError(
                f"{self.config_path}: expected a JSON object of config keys, got {type(saved).__name__}"
            )
        return saved

    def _read_records(self) -> dict[str, dict[str, Any]]:
        """Records of results.jsonl by scenario. A last line that is not valid JSON was cut by a kill:
        it is dropped (that scenario runs again). A valid last record whose newline was not written
        is kept, and the newline is added so that the next record starts a line of its own."""
        done: dict[str, dict[str, Any]] = {}
        if not self.results_path.exists():
            return done
        text = self.results_path.read_text()
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # a line cut by a kill: that scenario is simply re-run
                    print(f"{self.results_path}: discarding an incomplete last record", file=sys.stderr)
                    self._write_atomic(self.results_path, "".join(f"{kept}\n" for kept in lines[:i] if kept.strip()))
                    return done
                raise ValidationError(f"{self.results_path}: line {i + 1} is not valid JSON") from None
            done[rec["scenario"]] = rec
        if text and not text.endswith("\n"):
            self._append_text("\n")
        return done

    def append(self, record: dict[str, Any]) -> None:
        self._append_text(json.dumps(record, sort_keys=True) + "\n")

    def _append_text(self, text: str) -> None:
        with self.results_path.open("a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def write_json(self, name: str, payload: dict[str, Any]) -> Path:
        """Write ``name`` in the run directory atomically (a killed run leaves the old file or the new one)."""
        p = self.dir / name
        self._write_atomic(p, json.dumps(payload, indent=2, sort_keys=True))
        return p

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        """Write ``text`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
