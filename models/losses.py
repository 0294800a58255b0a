"""Training losses (as in the occupancy papers): class-weighted cross-entropy + Lovasz-softmax for
semantics, L1 on GT-occupied voxels for flow.

Lovasz-softmax: Berman et al., "The Lovasz-Softmax loss", CVPR 2018 (the "present classes" variant),
vectorised over classes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IGNORE = 255


def class_weights_from_counts(counts: np.ndarray, ignore_empty: bool = True) -> np.ndarray:
    """ENet-style weights ``1 / ln(1.02 + frequency)`` from (C,) label counts, normalised to mean 1
    over the classes present (absent classes get weight 1)."""
    counts = np.asarray(counts, dtype=np.float64)
    freq = counts / max(counts.sum(), 1.0)
    w = 1.0 / np.log(1.02 + freq)
    present = counts > 0 if ignore_empty else np.ones_like(counts, bool)
    w = np.where(present, w / w[present].mean() if present.any() else w, 1.0)
    return w.astype(np.float32)


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lovasz-softmax over the classes present in ``labels``.

    probs (P, C) class probabilities; labels (P,) int64 in [0, C). Returns a scalar (0 when P == 0).
    """
    if probs.numel() == 0:
        return probs.sum() * 0.0
    num_classes = probs.shape[1]
    fg = F.one_hot(labels, num_classes).to(probs.dtype)  # (P, C)
    present = fg.sum(0) > 0
    errors = (fg - probs).abs()
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    fg_sorted = torch.gather(fg, 0, perm)
    gts = fg_sorted.sum(0)
    intersection = gts - fg_sorted.cumsum(0)
    union = gts + (1.0 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    grad = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], dim=0)
    per_class = (errors_sorted * grad).sum(0)
    return per_class[present].mean()


def semantic_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor,
    lovasz_weight: float,
    lovasz_max: int = 200_000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted CE and Lovasz-softmax for logits (B, C, ...) vs target (B, ...) int64, IGNORE = skip.

    Lovasz runs on at most ``lovasz_max`` random valid elements (torch's global RNG). Returns (ce, lovasz),
    both 0 (with gradient) when every element is ignored.
    """
    if not bool((target != IGNORE).any()):
        zero = logits.sum() * 0.0
        return zero, zero
    ce = F.cross_entropy(logits, target, weight=class_weights.to(logits.device), ignore_index=IGNORE)
    if lovasz_weight <= 0:
        return ce, ce.new_zeros(())
    flat_logits = logits.movedim(1, -1).reshape(-1, logits.shape[1])
    flat_target = target.reshape(-1)
    valid = torch.nonzero(flat_target != IGNORE).squeeze(1)
    if len(valid) > lovasz_max:
        valid = valid[torch.randperm(len(valid), device=valid.device)[:lovasz_max]]
    lov = lovasz_softmax(flat_logits[valid].float().softmax(-1), flat_target[valid])
    return ce, lov


def flow_l1(pred: torch.Tensor, gt: torch.Tensor, weight_mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked elements of the L1 norm of the 2-D flow error.

    pred, gt (B, 2, ...) m/s; weight_mask (B, ...) bool (GT-occupied visible voxels).
    """
    err = (pred - gt).abs().sum(1)
    n = weight_mask.sum()
    return (err * weight_mask).sum() / n.clamp(min=1)


def masked_target(semantics: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Labels (B, ...) int64 with IGNORE outside ``mask``."""
    return torch.where(mask, semantics, torch.full_like(semantics, IGNORE))
