"""Base class of the torch perception models (``lidar``, ``occnet``): one code path for training,
evaluation and inference.

A subclass builds its ``nn.Module`` from a frozen config and implements the per-sample ``encode``
(SensorFrame -> tensors), ``targets`` (GT -> tensors), batched ``collate``/``collate_targets``,
``loss`` and ``decode`` (network output -> OccupancyPrediction). ``_predict`` chains them under
``torch.inference_mode`` in eval mode, so inference is deterministic.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from models.checkpoint import config_dict, load_weights, read_meta
from models.config import config_from_dict, preset
from models.voxel_decode import decode_voxels
from occplan.errors import DataError, ValidationError
from occplan.interfaces import PerceptionModel, SensorRequest
from occplan.types import OccupancyFrame, OccupancyPrediction, SensorFrame

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_PRESET = "tiny"
"""The preset of a model built without a config and without a checkpoint path."""
RANDOM_WEIGHTS = "random"  # the ``weights`` value that asks for an untrained (randomly initialised) network

Batch = dict[str, Any]


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move every tensor of a (flat) batch dict to ``device``."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def shipped_weights(name: str, config_name: str) -> Path:
    """Path of the checkpoint shipped in the repo for ``name`` at preset ``config_name``."""
    return WEIGHTS_DIR / f"{name}_{config_name}.safetensors"


class TorchOccModel(PerceptionModel):
    """A PerceptionModel whose work is done by ``self.net`` (an ``nn.Module``).

    ``sparse_on_cpu_single_thread``: the net runs spconv, whose CPU kernels race with more than one
    intra-op thread (``models.spconv_cpu``); ``backward`` then runs with one thread on CPU.
    """

    presets: ClassVar[dict[str, Any]]
    config_cls: ClassVar[type]
    trainable = True
    option_names = ("config", "weights", "device")
    sparse_on_cpu_single_thread: ClassVar[bool] = False
    history_keyframes: ClassVar[int] = 0
    """Previous keyframes of the scene a training sample carries (``OccDataset``: ``inputs["history"]``)."""

    def __init__(self, config: Any, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.config = config
        self.device = torch.device(device)
        self.net = self.build_net().to(self.device)
        self.net.eval()
        n = self.labels.num_classes
        self.class_weights = torch.ones(n, dtype=torch.float32)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` through ``self.net`` (one intra-op thread on CPU for spconv nets)."""
        if not (self.sparse_on_cpu_single_thread and self.device.type == "cpu"):
            loss.backward()
            return
        from models.spconv_cpu import cpu_single_thread

        with cpu_single_thread(True):
            loss.backward()

    @classmethod
    def from_options(
        cls, config: str | dict | None = None, weights: str | Path | None = "auto", device: str = "cpu"
    ) -> TorchOccModel:
        """Registry factory.

        ``config``: preset name, a full config dict, or None: the checkpoint's own config when ``weights``
        is a path, else the ``tiny`` preset. ``weights``: ``"auto"`` = the shipped checkpoint of the preset
        (a DataError naming the missing file when it is absent, so that no run reports an untrained model
        by accident), ``"random"`` (or None) = random init, asked for explicitly, or a path to a
        ``.safetensors`` checkpoint whose JSON metadata must carry this model's name. A checkpoint runs
        with the config it was trained with: a given preset name or dict that differs from it is an error
        naming the checkpoint's JSON and the differing fields.
        """
        path: Path | None = None
        if weights is not None and weights not in ("auto", RANDOM_WEIGHTS):
            path = Path(weights)
        if isinstance(config, dict):
            cfg, config_name = config_from_dict(cls.config_cls, config, f"{cls.name} config"), None
        elif config is None and path is not None:
            cfg, config_name = None, None
        else:
            config_name = DEFAULT_PRESET if config is None else config
            cfg = preset(cls.presets, config_name, cls.name)
        if weights == "auto":
            if config_name is None:
                raise ValidationError(
                    f"{cls.name}: weights='auto' needs a preset name, not a config dict; "
                    f"pass weights=PATH.safetensors or weights={RANDOM_WEIGHTS!r}"
                )
            path = shipped_weights(cls.name, config_name)
            if not path.is_file():
                raise DataError(
                    f"{path}: shipped weights of {cls.name} config {config_name!r} not found; train them "
                    f"(python -m models.train), pass weights=PATH.safetensors, or weights={RANDOM_WEIGHTS!r} "
                    "for an untrained model"
                )
        if path is not None:
            meta = read_meta(path)
            json_path = path.with_suffix(".json")
            if meta.get("model") != cls.name:
                raise DataError(f"{json_path}: field 'model' is {meta.get('model')!r}, not {cls.name!r}")
            stored = config_from_dict(cls.config_cls, meta["config"], f"{json_path} field 'config'")
            if cfg is not None and stored != cfg:
                differ = sorted(k for k, v in stored.__dict__.items() if cfg.__dict__[k] != v)
                given = f"preset {config_name!r}" if config_name is not None else "given config"
                raise ValidationError(
                    f"{json_path}: field 'config' differs from the {given} of {cls.name} in {differ}; a "
                    "checkpoint runs with the config it was trained with (pass no config to use it)"
                )
            cfg = stored
        model = cls(cfg, device=device)
        if path is not None:
            load_weights(path, model.net)
            model.set_class_weights(meta.get("class_weights"))
        return model

    def set_class_weights(self, weights: list[float] | np.ndarray | None) -> None:
        """Per-class cross-entropy weights (length = number of occupancy classes); None keeps ones."""
        if weights is not None:
            self.class_weights = torch.as_tensor(np.asarray(weights, dtype=np.float32))

    def meta(self) -> dict[str, Any]:
        """JSON metadata stored with a checkpoint."""
        return {
            "model": self.name,
            "config": config_dict(self.config),
            "class_weights": self.class_weights.tolist(),
        }

    def training_request(self) -> SensorRequest:
        """The sensors ``OccDataset`` loads for a training sample: ``sensor_request()`` plus what only the
        training targets read (a camera model with LiDAR depth supervision adds LiDAR sweeps here; its
        ``encode`` ignores them, so inference needs only ``sensor_request()``)."""
        return self.sensor_request()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    # --- the parts a subclass provides ----------------------------------------------------
    @abstractmethod
    def build_net(self) -> torch.nn.Module: ...

    @abstractmethod
    def encode(self, frame: SensorFrame) -> Batch:
        """One SensorFrame -> CPU tensors of one sample (no batch dimension)."""

    @abstractmethod
    def collate(self, samples: list[Batch]) -> Batch:
        """Per-sample encodings -> one batch."""

    @abstractmethod
    def targets(self, frame: SensorFrame, occupancy: OccupancyFrame, lidarseg: np.ndarray | None) -> Batch:
        """Ground truth of one sample as CPU tensors; ``lidarseg`` are challenge labels (0 ignore) of the
        keyframe points or None."""

    @abstractmethod
    def collate_targets(self, samples: list[Batch]) -> Batch: ...

    @abstractmethod
    def loss(self, out: Batch, targets: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named parts."""

    @abstractmethod
    def decode(self, out: Batch, index: int) -> OccupancyPrediction:
        """Sample ``index`` of a batched network output -> OccupancyPrediction."""

    # --- shared -----------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Batch:
        return self.net(to_device(batch, self.device))

    def training_forward(self, batch: Batch, targets: Batch) -> Batch:
        """The network's output for a training step; ``forward`` unless the network also reads the ground truth
        while it trains (sparseocc's GT-guided pruning). The loss still compares the output with ``targets``."""
        return self.forward(batch)

    def _predict(self, frame: SensorFrame) -> OccupancyPrediction:
        self.net.eval()
        with torch.inference_mode():
            out = self.forward(self.collate([self.encode(frame)]))
            return self.decode(out, 0)

    def decode_occupancy(
        self, sem_logits: torch.Tensor, flow: torch.Tensor, index: int, **extra
    ) -> OccupancyPrediction:
        """(B, C, X, Y, Z) logits + (B, 2, X, Y, Z) flow -> OccupancyPrediction of sample ``index``;
        flow is zeroed where the prediction is free (one pass over the grid: ``models.voxel_decode``)."""
        sem, fl = decode_voxels(
            sem_logits[index].detach().float().cpu().numpy(),
            flow[index].detach().float().cpu().numpy(),
            self.labels.free_index,
        )
        return OccupancyPrediction(
            semantics=sem,
            grid=self.grid,
            labels=self.labels,
            flow=fl,
            **extra,
        )
