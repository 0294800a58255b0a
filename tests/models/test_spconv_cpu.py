"""spconv on CPU-only torch: the stream patch and a gradient check against dense conv3d."""

from __future__ import annotations

import torch

from models.spconv_cpu import cpu_single_thread, import_spconv

spconv = import_spconv()


def test_submanifold_conv_forward_and_backward_match_dense_conv():
    """With every voxel active, a submanifold 3x3x3 conv equals a dense conv3d with padding 1,
    in the output and in both gradients. (float32: spconv 2.3.8's CPU float64 path miscounts a few voxels.)"""
    torch.manual_seed(0)
    shape = (4, 5, 3)
    dense_in = torch.randn(1, 2, *shape, dtype=torch.float32)
    coords = torch.stack(torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int64), coords], 1).int()
    feats = dense_in[0].permute(1, 2, 3, 0).reshape(-1, 2).clone().requires_grad_(True)

    conv = spconv.SubMConv3d(2, 3, 3, padding=1, bias=False, indice_key="t")
    with cpu_single_thread(True):  # as the models run it: multi-threaded CPU kernels race
        out = conv(spconv.SparseConvTensor(feats, coords, list(shape), 1))
        sparse_dense = out.dense()
        (sparse_dense * torch.linspace(-1, 1, sparse_dense.numel()).view_as(sparse_dense)).sum().backward()

    weight = conv.weight.detach().permute(0, 4, 1, 2, 3).clone().requires_grad_(True)  # (out, k, k, k, in) -> OIDHW
    x = dense_in.clone().requires_grad_(True)
    ref = torch.nn.functional.conv3d(x, weight, padding=1)
    (ref * torch.linspace(-1, 1, ref.numel()).view_as(ref)).sum().backward()

    tol = {"atol": 1e-5, "rtol": 1e-4}
    torch.testing.assert_close(sparse_dense, ref.detach(), **tol)
    torch.testing.assert_close(feats.grad.reshape(*shape, 2).permute(3, 0, 1, 2), x.grad[0], **tol)
    torch.testing.assert_close(conv.weight.grad.permute(0, 4, 1, 2, 3), weight.grad, **tol)


def test_strided_and_inverse_conv_backward_runs_on_cpu():
    torch.manual_seed(1)
    coords = torch.unique(torch.randint(0, 16, (300, 3)), dim=0)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int64), coords], 1).int()
    feats = torch.randn(len(coords), 4, requires_grad=True)
    net = spconv.SparseSequential(
        spconv.SparseConv3d(4, 8, 3, stride=2, padding=1, indice_key="d"),
        spconv.SparseInverseConv3d(8, 4, 3, indice_key="d"),
    )
    out = net(spconv.SparseConvTensor(feats, coords, [16, 16, 16], 1))
    assert out.features.shape == feats.shape
    out.features.square().sum().backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0


def test_sparse_forward_is_deterministic_with_the_single_thread_guard():
    torch.manual_seed(0)
    n = 20000
    xyz = torch.stack([torch.randint(0, 100, (n,)), torch.randint(0, 100, (n,)), torch.randint(0, 16, (n,))], 1)
    coords = torch.unique(torch.cat([torch.zeros(n, 1, dtype=torch.int64), xyz], 1), dim=0).int()
    feats = torch.randn(len(coords), 8)
    net = spconv.SparseSequential(
        spconv.SubMConv3d(8, 8, 3, indice_key="s"), spconv.SparseConv3d(8, 8, 3, stride=2, padding=1)
    )
    outs = []
    with torch.no_grad():
        for _ in range(3):
            with cpu_single_thread(True):
                outs.append(net(spconv.SparseConvTensor(feats, coords, [100, 100, 16], 1)).features)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_spconv_internal_warnings_are_hidden():
    """A dense view of a sparse tensor (spconv's list-of-slices indexing) warns nothing, even with every
    warning shown; the torch.fx notice spconv triggers is filtered from its logger, other records pass."""
    import logging
    import warnings

    coords = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]], dtype=torch.int32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import_spconv()
        spconv.SparseConvTensor(torch.ones(2, 3), coords, [4, 4, 4], 1).dense()
    assert [str(w.message) for w in caught] == []
    fx_log = logging.getLogger("torch.fx._symbolic_trace")

    def record(message: str) -> logging.LogRecord:
        return fx_log.makeRecord(fx_log.name, logging.WARNING, __file__, 0, message, (), None)

    assert not fx_log.filter(record("is_fx_tracing will return true for both fx.symbolic_trace and torch.export."))
    assert fx_log.filter(record("another torch.fx warning"))
