"""Set-prediction losses of SparseOcc's mask transformer (MaskFormer's bipartite matching).

The ground-truth segments of one sample are the classes present among its kept, loss-carrying voxels, each
with a binary mask over the kept voxels. Queries are matched one-to-one to segments by the Hungarian
algorithm on ``-p_q(class) + BCE(mask) + Dice(mask)``; matched queries learn the segment's class and mask
(sigmoid BCE + Dice over the loss-carrying voxels), unmatched ones the no-object class (down-weighted by
``no_object_weight``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from models.sparseocc.mask_decoder import MaskPrediction


def segments(labels: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) labels and (N,) bool loss mask of one sample's kept voxels -> (G,) classes present among the
    valid voxels (ascending) and their (G, N') float masks over the N' valid voxels."""
    t = labels[valid]
    classes = t.unique()
    return classes, (t.unsqueeze(0) == classes.unsqueeze(1)).float()


def dice_cost(probs: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(Q, N) mask probabilities x (G, N) binary masks -> (Q, G) Dice losses ``1 - (2|p.g| + 1) / (|p| + |g| + 1)``."""
    inter = probs @ gt.T
    return 1 - (2 * inter + 1) / (probs.sum(-1, keepdim=True) + gt.sum(-1).unsqueeze(0) + 1)


def bce_cost(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(Q, N) mask logits x (G, N) binary masks -> (Q, G) mean sigmoid BCE over the N voxels."""
    return (F.softplus(-logits) @ gt.T + F.softplus(logits) @ (1 - gt).T) / max(logits.shape[1], 1)


def hungarian_match(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, classes: torch.Tensor, gt: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and segment indices of the minimum-cost one-to-one matching (as many pairs as segments)."""
    with torch.no_grad():
        cost = -class_logits.softmax(-1)[:, classes] + bce_cost(mask_logits, gt) + dice_cost(mask_logits.sigmoid(), gt)
        rows, cols = linear_sum_assignment(cost.float().cpu().numpy())
    return torch.as_tensor(rows, device=class_logits.device), torch.as_tensor(cols, device=class_logits.device)


def mask_set_loss(
    pred: MaskPrediction, labels: torch.Tensor, valid: torch.Tensor, no_object_weight: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(class CE, mask BCE, mask Dice) averaged over the batch for kept-voxel labels (B, N) int64 and loss
    mask (B, N) bool."""
    b, q, k1 = pred.class_logits.shape
    weight = torch.ones(k1, device=labels.device)
    weight[-1] = no_object_weight
    ce = bce = dice = pred.class_logits.sum() * 0.0
    for i in range(b):
        target = torch.full((q,), k1 - 1, dtype=torch.int64, device=labels.device)
        classes, gt = segments(labels[i], valid[i])
        if len(classes):
            logits = pred.mask_logits[i][:, valid[i]]
            rows, cols = hungarian_match(pred.class_logits[i], logits, classes, gt)
            target[rows] = classes[cols]
            matched, matched_gt = logits[rows], gt[cols]
            bce = bce + F.binary_cross_entropy_with_logits(matched, matched_gt)
            dice = dice + dice_cost(matched.sigmoid(), matched_gt).diagonal().mean()
        ce = ce + F.cross_entropy(pred.class_logits[i], target, weight=weight)
    return ce / b, bce / b, dice / b
