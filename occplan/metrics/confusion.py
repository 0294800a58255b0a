"""One streaming confusion-matrix accumulator, shared by occupancy and LiDAR-segmentation metrics.

Rows are ground truth, columns predictions (the CVPR2023 / nuScenes-lidarseg convention). The fast
path is a single-thread numba pass over the (optionally masked) elements that skips unmasked runs
of 8 with one 64-bit load; it never builds boolean-indexed copies. (Single-thread on purpose: a
parallel region costs more than the ~0.3 ms pass, badly so on a shared machine.) ``confusion_bincount`` is the
plain numpy path of the reference implementations (CVPR2023 ``Metric_mIoU.hist_info``), kept as
the agreement reference for tests and benchmarks.
"""

from __future__ import annotations

import numba
import numpy as np

from occplan.errors import ValidationError


@numba.njit(cache=True, nogil=True)
def _max_label(a: np.ndarray) -> int:
    m = 0
    for i in range(a.size):
        v = a[i]
        if v > m:
            m = v
    return m


@numba.njit(cache=True, nogil=True)
def _count_all(gt, pred, num_classes, out) -> None:
    """Count every element into 4 interleaved histograms: one dominant cell (free / free) would
    otherwise chain every increment on the previous store."""
    hist = np.zeros((4, out.size), dtype=np.int64)
    n4 = gt.size // 4 * 4
    for i in range(0, n4, 4):
        hist[0, gt[i] * num_classes + pred[i]] += 1
        hist[1, gt[i + 1] * num_classes + pred[i + 1]] += 1
        hist[2, gt[i + 2] * num_classes + pred[i + 2]] += 1
        hist[3, gt[i + 3] * num_classes + pred[i + 3]] += 1
    for i in range(n4, gt.size):
        hist[0, gt[i] * num_classes + pred[i]] += 1
    out += hist.sum(axis=0)


@numba.njit(cache=True, nogil=True)
def _count_masked(gt, pred, mask, mask_words, num_classes, out) -> None:
    """Count where ``mask``; ``mask_words`` is the uint64 view of its first ``8 * len`` bytes, so
    runs of 8 unmasked elements cost one load (occupancy masks are sparse and spatially coherent)."""
    for w in range(mask_words.size):
        if mask_words[w] != 0:
            for i in range(w * 8, w * 8 + 8):
                if mask[i]:
                    out[gt[i] * num_classes + pred[i]] += 1
    for i in range(mask_words.size * 8, gt.size):
        if mask[i]:
            out[gt[i] * num_classes + pred[i]] += 1


def _flat_labels(a: np.ndarray, field: str, shape: tuple[int, ...] | None) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise ValidationError(f"{field}: expected numpy.ndarray, got {type(a).__name__}")
    if a.dtype.kind not in "ui":
        raise ValidationError(f"{field}: expected an unsigned integer label array, got {a.dtype}")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise ValidationError(f"{field}: negative labels (min {int(a.min())})")
    if shape is not None and a.shape != shape:
        raise ValidationError(f"{field}: expected shape {shape}, got {a.shape}")
    return np.ascontiguousarray(a).reshape(-1)


def confusion_counts(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, mask: np.ndarray | None = None, field: str = "labels"
) -> np.ndarray:
    """(C, C) int64 confusion matrix of one sample, rows = GT, by the numba fast path.

    ``gt`` and ``pred`` are integer label arrays of one shape with values in [0, C); ``mask`` (same
    shape, converted to bool explicitly) selects the counted elements. Raises ValidationError naming
    ``field`` on a shape mismatch or an out-of-range label anywhere in the arrays.
    """
    return confusion_counts_per_mask(gt, pred, num_classes, (mask,), field)[0]


def confusion_counts_per_mask(
    gt: np.ndarray,
    pred: np.ndarray,
    num_classes: int,
    masks: tuple[np.ndarray | None, ...],
    field: str = "labels",
) -> list[np.ndarray]:
    """``confusion_counts`` of one (GT, prediction) pair under each of ``masks`` (None: every
    element), the labels validated once."""
    g = _flat_labels(gt, f"{field} (ground truth)", None)
    p = _flat_labels(pred, f"{field} (prediction)", gt.shape)
    for arr, who in ((g, "ground truth"), (p, "prediction")):
        if arr.size and int(_max_label(arr)) >= num_classes:
            bad = np.unique(arr[arr >= num_classes])[:5].tolist()
            raise ValidationError(f"{field} ({who}): labels outside [0, {num_classes}) (e.g. {bad})")
    counts = []
    for mask in masks:
        out = np.zeros(num_classes * num_classes, dtype=np.int64)
        if mask is None:
            _count_all(g, p, num_classes, out)
        else:
            if mask.shape != gt.shape:
                raise ValidationError(f"{field} mask: expected shape {gt.shape}, got {mask.shape}")
            m = np.ascontiguousarray(mask.astype(np.bool_, copy=False)).reshape(-1)
            _count_masked(g, p, m, m[: m.size // 8 * 8].view(np.uint64), num_classes, out)
        counts.append(out.reshape(num_classes, num_classes))
    return counts


def confusion_bincount(
    gt: np.ndarray, pred: np.ndarray, num_classes: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Reference path, verbatim CVPR2023 ``hist_info``: boolean-index, keep ``0 <= gt < C``, bincount."""
    if mask is not None:
        m = mask.astype(bool)
        gt, pred = gt[m], pred[m]
    k = (gt >= 0) & (gt < num_classes)
    idx = num_classes * gt[k].astype(int) + pred[k].astype(int)
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(hist: np.ndarray) -> np.ndarray:
    """(C,) float64 IoU = tp / (row + col - tp); 0/0 (class in neither GT nor prediction) is NaN."""
    h = np.asarray(hist, dtype=np.float64)
    tp = np.diag(h)
    with np.errstate(divide="ignore", invalid="ignore"):
        return tp / (h.sum(1) + h.sum(0) - tp)


class ConfusionMatrix:
    """Streaming (C, C) int64 confusion matrix, rows = GT: ``reset / update / hist``."""

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValidationError(f"ConfusionMatrix.num_classes: must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.hist = np.zeros((num_classes, num_classes), dtype=np.int64)

    def reset(self) -> None:
        self.hist[:] = 0

    def update(
        self, gt: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None, field: str = "labels"
    ) -> np.ndarray:
        """Add one sample (see ``confusion_counts``); returns its own (C, C) counts."""
        counts = confusion_counts(gt, pred, self.num_classes, mask, field)
        self.hist += counts
        return counts

    def add(self, hist: np.ndarray) -> None:
        """Add a precomputed (C, C) count matrix (for example from another worker)."""
        if hist.shape != self.hist.shape:
            raise ValidationError(f"ConfusionMatrix.add: expected shape {self.hist.shape}, got {hist.shape}")
        self.hist += hist.astype(np.int64)

    def iou(self) -> np.ndarray:
        return iou_per_class(self.hist)
