"""The one place that adapts spconv 2.3 to CPU-only torch builds.

spconv's Python ops ask ``torch.cuda.current_stream()`` for a stream handle even for CPU tensors,
which raises on a CPU-only torch. On such builds the handle is meaningless, so it is patched to 0
(the null stream). Importing this module applies the patch once; modules using spconv import
``spconv`` through :func:`import_spconv`.

spconv 2.3.8's CPU kernels are not thread safe: with more than one OpenMP thread the index-pair
generation of the forward pass and the scatter-add of the backward pass give different (wrong)
results from run to run (a fresh CI run saw 2 of 120 input gradients wrong). :func:`cpu_single_thread`
runs them with one thread on CPU tensors: the LiDAR net's sparse forward pass, and
``TorchOccModel.backward`` for nets that declare ``sparse_on_cpu_single_thread``.

spconv 2.3's own code also makes this torch warn on every model run, about nothing a user can change:
a ``UserWarning`` for indexing with a list of slices (``spconv/pytorch/core.py``) and a log line from
``torch.fx`` about ``is_fx_tracing`` (``SparseConvTensor``). :func:`import_spconv` hides exactly these
two messages, only where spconv raises them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import torch


def _null_stream() -> int:
    return 0


def patch_spconv_for_cpu() -> bool:
    """Patch spconv's stream lookup when CUDA is unavailable; returns True if patched."""
    if torch.cuda.is_available():
        return False
    import spconv.pytorch.hash as sp_hash
    import spconv.pytorch.ops as sp_ops

    sp_ops.get_current_stream = _null_stream
    sp_hash.get_current_stream = _null_stream
    return True


@contextlib.contextmanager
def cpu_single_thread(on_cpu: bool) -> Iterator[None]:
    """Run the enclosed spconv calls with one intra-op thread when ``on_cpu`` (restored afterwards)."""
    if not on_cpu:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _not_fx_tracing_notice(record: logging.LogRecord) -> bool:
    return "is_fx_tracing will return true" not in record.getMessage()


def import_spconv():
    """``spconv.pytorch`` with the CPU patch applied and its two internal warnings hidden."""
    import spconv.pytorch as spconv

    patch_spconv_for_cpu()
    warnings.filterwarnings(
        "ignore", "Using a non-tuple sequence for multidimensional indexing", UserWarning, r"spconv\."
    )
    fx_log = logging.getLogger("torch.fx._symbolic_trace")
    if _not_fx_tracing_notice not in fx_log.filters:
        fx_log.addFilter(_not_fx_tracing_notice)
    return spconv


SPCONV_PATCHED = patch_spconv_for_cpu()
