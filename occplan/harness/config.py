"""Run configuration of the closed-loop harness: a frozen dataclass filled from YAML and CLI flags.

An unknown key (YAML or programmatic) is an error that lists the valid keys.
"""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from occplan.errors import ValidationError

MODES = ("both", "open", "closed")
"""Passes of a run: "both" = an open-loop pass (ego on the log) and a closed-loop pass."""
AGENT_MODES = ("replay", "idm")
WANDB_MODES = ("online", "offline", "disabled")


class Options(Mapping[str, Any]):
    """Plugin options: a read-only, picklable mapping of JSON values (a copy of the given mapping);
    equal to any mapping with the same items."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = copy.deepcopy(dict(items or {}))

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Options({self._items!r})"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines an evaluation run (recorded in summary.json).

    ``data`` None = the embedded generated mini set (generated on first use); ``version`` None = the
    only ``v1.0-*`` table folder of ``data`` (an error when there are several); ``split`` None = every
    scene; ``scenes`` None = every scene of ``split``; ``workers`` 0 = in-process, N >= 1 = N Ray
    workers (``ray_address`` joins an existing cluster instead of starting a local one);
    ``max_decisions`` None = run each scenario to the end of its log, else stop after that many
    0.5 s decisions (quick runs). ``model_options`` / ``planner_options``: keyword options of the
    plugins' factories (models: ``config``, ``weights``, ``device``; planners: fields of the planner's
    config dataclass, ``a.b`` for a field of a nested one), JSON values, held read-only.
    """

    model: str = "occnet"
    planner: str = "pdm"
    data: str | None = None
    version: str | None = None
    split: str | None = "val"
    scenes: tuple[str, ...] | None = None
    mode: str = "both"
    agents: str = "replay"
    out: str = "runs/latest"
    resume: bool = False
    workers: int = 0
    ray_address: str | None = None
    wandb: bool = False
    wandb_project: str = "occplan"
    wandb_mode: str | None = None
    seed: int = 0
    plots: bool = True
    max_decisions: int | None = None
    model_options: Mapping[str, Any] = field(default_factory=Options)
    planner_options: Mapping[str, Any] = field(default_factory=Options)

    def __post_init__(self) -> None:
        for key in ("model_options", "planner_options"):
            options = getattr(self, key)
            if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
                raise ValidationError(f"RunConfig.{key}: expected a mapping of option names to values, got {options!r}")
            object.__setattr__(self, key, Options(options))
        if self.mode not in MODES:
            raise ValidationError(f"RunConfig.mode: expected one of {MODES}, got {self.mode!r}")
        if self.agents not in AGENT_MODES:
            raise ValidationError(f"RunConfig.agents: expected one of {AGENT_MODES}, got {self.agents!r}")
        if self.wandb_mode is not None and self.wandb_mode not in WANDB_MODES:
            raise ValidationError(f"RunConfig.wandb_mode: expected one of {WANDB_MODES}, got {self.wandb_mode!r}")
        if self.workers < 0:
            raise ValidationError(f"RunConfig.workers: must be >= 0, got {self.workers}")
        if self.max_decisions is not None and self.max_decisions < 1:
            raise ValidationError(f"RunConfig.max_decisions: must be >= 1 or None, got {self.max_decisions}")
        if self.scenes is not None and not self.scenes:
            raise ValidationError("RunConfig.scenes: empty; give scene names or None for the whole split")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["scenes"] = list(self.scenes) if self.scenes is not None else None
        d["model_options"] = copy.deepcopy(dict(self.model_options))
        d["planner_options"] = copy.deepcopy(dict(self.planner_options))
        return d

    def identity(self) -> dict[str, Any]:
        """The keys that must match for ``--resume`` to continue a run (not where/how it runs)."""
        d = self.to_dict()
        for k in ("out", "resume", "workers", "ray_address", "wandb", "wandb_project", "wandb_mode", "plots"):
            d.pop(k)
        return d


def options_key(options: Mapping[str, Any]) -> str:
    """Canonical JSON of plugin options: a hashable key that is equal for equal options."""
    return json.dumps(dict(options), sort_keys=True)


def valid_keys() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def from_mapping(values: dict[str, Any], source: str, base: RunConfig | None = None) -> RunConfig:
    """Fill a RunConfig from a mapping; an unknown key raises naming ``source`` and the valid keys."""
    unknown = sorted(set(values) - set(valid_keys()))
    if unknown:
        raise ValidationError(f"{source}: unknown key(s) {unknown}; valid keys: {', '.join(valid_keys())}")
    v = dict(values)
    if v.get("scenes") is not None:
        scenes = v["scenes"]
        v["scenes"] = tuple([scenes] if isinstance(scenes, str) else scenes)
        if not all(isinstance(s, str) for s in v["scenes"]):
            raise ValidationError(f"{source}: key 'scenes' must be a scene name or a list of names, got {scenes!r}")
    hints = get_type_hints(RunConfig)
    for key, value in v.items():
        if key != "scenes" and not _has_type(value, hints[key]):
            raise ValidationError(f"{source}: key {key!r} expects {hints[key]}, got {value!r}")
    if "model_options" in v:
        v["model_options"] = model_options(v["model_options"], f"{source}: key 'model_options'")
    return replace(base or RunConfig(), **v)


MODEL_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
KEEP_WEIGHTS = ("auto", "random")
"""``weights`` values that name no file (the shipped checkpoint; random init)."""


def model_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``options`` with a ``config`` that names a YAML/JSON file replaced by the file's mapping (so that
    config.json records the model config itself) and a ``weights`` path made absolute (workers and
    ``--resume`` see the same file)."""
    out = dict(options)
    config = out.get("config")
    if isinstance(config, str) and Path(config).suffix in MODEL_CONFIG_SUFFIXES:
        out["config"] = _read_mapping(Path(config).expanduser(), f"{where} 'config'")
    weights = out.get("weights")
    if isinstance(weights, str | Path) and str(weights) not in KEEP_WEIGHTS:
        out["weights"] = str(Path(weights).expanduser().resolve())
    return out


def _read_mapping(path: Path, where: str) -> dict[str, Any]:
    """The mapping in a YAML or JSON file (JSON is YAML); ValidationError naming the file otherwise."""
    if not path.is_file():
        raise ValidationError(f"{path}: model config file not found ({where})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValidationError(f"{path}: invalid YAML/JSON ({e})") from e
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: expected a mapping of model config keys, got {type(data).__name__}")
    return data


def _has_type(value: Any, hint: Any) -> bool:
    """isinstance against a field annotation (``int``, ``str | None`` ...); bool is not an int here."""
    allowed = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    bases = tuple(get_origin(a) or a for a in allowed)
    if isinstance(value, bool) and bool not in bases:
        return False
    return isinstance(value, bases)


def load_yaml(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValidationError(f"{p}: invalid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ValidationError(f"{p}: expected a mapping of config keys, got {type(data).__name__}")
    return from_mapping(data, str(p), base)
