"""Every op of gnnpart._C on every device, in the manner of pytorch/extension-cpp's test_extension.py.

One ``sample_inputs(device)`` lists the op calls to try; each is checked for correctness against its plain-PyTorch
reference, through ``torch.library.opcheck``, and (where the op is differentiable) for its gradients. Every test
runs on ``cpu``, and on ``cuda`` where torch sees a GPU. A last table checks that both devices refuse the same
bad input with the same message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch

from gnnpart import hashing
from gnnpart.comm import codec_ops as codec
from gnnpart.comm import row_ops as rows
from gnnpart.data.csr import coo_to_csr_reference
from gnnpart.nn import kernels

_ops = torch.ops.gnnpart
HAS_CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device"))]


@dataclass
class Case:
    """One call: ``op(*args)``; ``expected(args)`` is the reference's result for the same (cloned) arguments.

    ``result(out, args)`` picks what is compared (the return value, or the argument an in-place op wrote);
    ``exact`` compares bits, else within float tolerance.
    """

    op: Callable
    args: tuple
    expected: Callable
    result: Callable = lambda out, args: out
    exact: bool = True


def _clone(args):
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _graph(device, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    indptr = torch.tensor([0, 2, 2, 5, 6, 9])
    indices = torch.tensor([0, 3, 1, 1, 2, 5, 4, 0, 5])
    x = torch.randn(6, 7, generator=g, dtype=dtype)
    rows_of = torch.repeat_interleave(torch.arange(5), indptr.diff())
    t_indptr = torch.zeros(7, dtype=torch.long)
    order = torch.argsort(indices * 5 + rows_of)
    t_indptr[1:] = torch.bincount(indices, minlength=6).cumsum(0)
    t_indices = rows_of[order]
    return [t.to(device) for t in (indptr, indices, x, t_indptr, t_indices)]


def sample_inputs(device) -> dict[str, list[Case]]:
    """Op name -> the calls that test it on ``device``."""
    g = torch.Generator().manual_seed(1)
    dev = torch.device(device)

    def randn(*shape, dtype=torch.float32):
        return torch.randn(*shape, generator=g, dtype=dtype).to(dev)

    def ids(values):
        return torch.tensor(values, dtype=torch.long, device=dev)

    src, index, slots = randn(50, 9), ids([3, 7, 3, 49, 0, 12, 3]), ids([1, 5, 9, 11, 20, 30, 40])
    values = randn(7, 9)
    cases: dict[str, list[Case]] = {
        "pack_rows": [Case(_ops.pack_rows, (src.to(dt), index), lambda a: rows.pack_rows_reference(*a))
                      for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16)]
        + [Case(_ops.pack_rows, (randn(20, 300), ids([]),), lambda a: a[0][a[1]])]
        # rows of 1200, 12 (at an offset of one row: not 16-byte aligned) and 6 bytes: each word size of the GPU kernel
        + [Case(_ops.pack_rows, (table, ids([4, 19, 4, 0])), lambda a: a[0][a[1]])
           for table in (randn(20, 300), randn(21, 3)[1:], randn(20, 3, dtype=torch.float16))],
        "pack_rows_into_": [Case(_ops.pack_rows_into_, (src, index, torch.empty(7, 9, device=dev)),
                                 lambda a: rows.pack_rows_reference(a[0], a[1]), lambda out, a: a[2])],
        "unpack_rows_": [Case(_ops.unpack_rows_, (src.to(dt), slots, values.to(dt)),
                              lambda a: rows.unpack_rows_reference(*a), lambda out, a: a[0])
                         for dt in (torch.float32, torch.float64, torch.bfloat16)]
        + [Case(_ops.unpack_rows_, (table, ids([7, 2, 19]), randn(3, table.shape[1]).to(table.dtype)),
                lambda a: rows.unpack_rows_reference(*a), lambda out, a: a[0])
           for table in (randn(20, 300), randn(21, 3)[1:], randn(20, 3, dtype=torch.float16))],
        "scatter_add_rows_": [Case(_ops.scatter_add_rows_, (src.to(dt), index, values.to(dt)),
                                   lambda a: rows.scatter_add_rows_reference(*a), lambda out, a: a[0], exact=False)
                              for dt in (torch.float32, torch.float64)],
    }
    wide = randn(40, 33)
    q_index = ids([5, 0, 39, 5, 17])
    channels = torch.tensor([[0, 3, 7, 32]] * 5, dtype=torch.int32, device=dev)
    payload, scales = codec.quantize_rows_reference(wide, q_index, torch.float16)
    held = torch.full((5, 33), float("nan"), device=dev)
    held[1] = wide[0]
    cases.update({
        "quantize_rows": [Case(_ops.quantize_rows, (wide, q_index, dt, False, 0),
                               lambda a: codec.quantize_rows_reference(*a), exact=False)
                          for dt in (torch.float16, torch.bfloat16)]
        + [Case(_ops.quantize_rows, (wide.double(), None, torch.int8, False, 0),
                lambda a: codec.quantize_rows_reference(*a), exact=False)],
        "dequantize_rows_": [Case(_ops.dequantize_rows_, (wide.clone(), ids([1, 2, 3, 4, 6]), payload, scales, 2.0, False),
                                  lambda a: codec.dequantize_rows_reference(*a), lambda out, a: a[0], exact=False),
                             Case(_ops.dequantize_rows_, (wide.clone(), q_index, payload, scales, 0.5, True),
                                  lambda a: codec.dequantize_rows_reference(*a), lambda out, a: a[0], exact=False)],
        "topk_rows": [Case(_ops.topk_rows, (wide, q_index, 4), lambda a: codec.topk_rows_reference(*a))],
        "gather_channels": [Case(_ops.gather_channels, (wide, q_index, channels),
                                 lambda a: codec.gather_channels_reference(*a))],
        "scatter_channels_": [Case(_ops.scatter_channels_, (wide.clone(), q_index, randn(5, 4), channels, 1.5, True),
                                   lambda a: codec.scatter_channels_reference(*a), lambda out, a: a[0], exact=False)],
        "delta_select_": [Case(_ops.delta_select_, (held, wide, q_index, 0.1),
                               lambda a: codec.delta_select_reference(*a), lambda out, a: (out, a[0]))],
    })
    feats, node_ids = randn(6, 10), ids([4, 0, 17, 2**40, 9, 3])
    indptr, indices, x, t_indptr, t_indices = _graph(dev)
    row = ids([3, 0, 3, 1, 3, 0, 2])
    col = ids([2, 1, 2, 0, 0, 1, 3])
    cases.update({
        "hash_dropout": [Case(_ops.hash_dropout, (feats.to(dt), node_ids, 5, 2, 1, 0.3),
                              lambda a: hashing.hash_dropout_reference(a[0].cpu(), a[1].cpu(), *a[2:]).to(a[0]),
                              exact=False)
                         for dt in (torch.float32, torch.float64)],
        "hash_dropout_relu": [Case(_ops.hash_dropout_relu, (feats.to(dt), node_ids, 5, 2, 1, 0.3),
                                   lambda a: hashing.hash_dropout_reference(torch.relu(a[0]).cpu(), a[1].cpu(),
                                                                            *a[2:]).to(a[0]), exact=False)
                              for dt in (torch.float32, torch.float64)],
        "spmm_sum": [Case(_ops.spmm_sum, (indptr, indices, x, t_indptr, t_indices),
                          lambda a: kernels.spmm_sum_reference(*a)),
                     Case(_ops.spmm_sum, (indptr, indices, x.float(), None, None),
                          lambda a: kernels.spmm_sum_reference(*a), exact=False)]
        # 127 columns: every column block of the CPU kernel (64, 32, 16, 8, then single columns)
        + [Case(_ops.spmm_sum, (indptr, indices, randn(6, 127, dtype=dt), None, None),
                lambda a: kernels.spmm_sum_add_reference(torch.zeros(5, 127, dtype=a[2].dtype, device=dev),
                                                         a[0][:-1], a[0][1:], a[1], a[2]))
           for dt in (torch.float32, torch.float64)],
        # rows 1..3 of the graph in two calls: edges [begin, split) of x, then [split, end) of a table at offset 2
        "spmm_sum_add_": [Case(_ops.spmm_sum_add_, (randn(3, width, dtype=dt), indptr[1:4], ids([2, 4, 6]), indices,
                                                    randn(6, width, dtype=dt), 0),
                               lambda a: kernels.spmm_sum_add_reference(*a), lambda out, a: a[0])
                          for dt in (torch.float32, torch.float64) for width in (7, 127)]
        + [Case(_ops.spmm_sum_add_, (randn(3, 9), ids([2, 4, 6]), indptr[2:5], indices, randn(4, 9), 2),
                lambda a: kernels.spmm_sum_add_reference(*a), lambda out, a: a[0])],
        "csr_from_coo": [Case(_ops.csr_from_coo, (row, col, 5, 4, dedup),
                              lambda a: tuple(torch.from_numpy(t).to(dev) for t in
                                              coo_to_csr_reference(a[0].cpu().numpy(), a[1].cpu().numpy(), a[2], a[4])))
                         for dedup in (True, False)],
    })
    return cases


OPS = sorted(sample_inputs("cpu"))


def _compare(got, want, exact):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g_, w_ in zip(got, want):
            _compare(g_, w_, exact)
        return
    assert got.device == want.device and got.dtype == want.dtype and got.shape == want.shape
    if exact:
        assert torch.equal(got, want)
    else:
        torch.testing.assert_close(got, want, rtol=2e-3 if got.dtype in (torch.float16, torch.bfloat16) else 1e-5,
                                   atol=1e-6, equal_nan=True)


TESTED_APART = {
    "relu_dropout_grad": "a CPU kernel only (CUDA composes aten ops): test_relu_dropout_grad_is_threshold_backward_then_scale",
    "block_cache_enable": "the block cache takes no tensors: tests/test_block_cache.py",
    "block_cache_disable": "tests/test_block_cache.py",
    "block_cache_empty": "tests/test_block_cache.py",
    "block_cache_stats": "tests/test_block_cache.py",
    "sample_neighbors": "the sampler's CPU kernel (data-dependent sizes): tests/sample/test_kernels.py",
    "block_sources": "the sampler's CPU kernel (data-dependent sizes): tests/sample/test_kernels.py",
}
"""Ops without samples here, and where they are tested."""


def test_every_op_has_samples():
    registered = {name.split("::")[1] for name in torch._C._dispatch_get_all_op_names() if name.startswith("gnnpart::")}
    assert registered == set(OPS) | set(TESTED_APART)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OPS)
def test_correct(device, name):
    for case in sample_inputs(device)[name]:
        args = _clone(case.args)
        out = case.op(*args)
        _compare(case.result(out, args), case.expected(_clone(case.args)), case.exact)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OPS)
def test_opcheck(device, name):
    for case in sample_inputs(device)[name]:
        skip = ("test_aot_dispatch_dynamic",) if name == "delta_select_" else ()  # data-dependent output size
        tests = [t for t in ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
                 if t not in skip]
        torch.library.opcheck(case.op, _clone(case.args), test_utils=tests)


@pytest.mark.parametrize("device", DEVICES)
def test_spmm_sum_gradients(device):
    indptr, indices, x, t_indptr, t_indices = _graph(device)
    x.requires_grad_(True)
    torch.autograd.gradcheck(lambda v: kernels.spmm_sum(indptr, indices, v, t_indptr, t_indices), (x,))
    weight = torch.randn(5, 7, dtype=x.dtype, device=x.device)
    (grad,) = torch.autograd.grad((kernels.spmm_sum(indptr, indices, x, t_indptr, t_indices) * weight).sum(), x)
    (want,) = torch.autograd.grad((kernels.spmm_sum_reference(indptr, indices, x) * weight).sum(), x)
    assert torch.equal(grad, want)
    with pytest.raises(RuntimeError, match="needs the transposed CSR"):
        kernels.spmm_sum(indptr, indices, x).sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_hash_dropout_gradients(device):
    """The gradient is the same mask and scale applied to the incoming gradient (the mask is recomputed)."""
    x = torch.randn(8, 6, dtype=torch.float64, device=device, requires_grad=True)
    node_ids = torch.arange(8, device=device) * 11
    weight = torch.randn(8, 6, dtype=torch.float64, device=device)
    (grad,) = torch.autograd.grad((hashing.hash_dropout(x, node_ids, 3, 1, 0, 0.25) * weight).sum(), x)
    want = hashing.hash_dropout_reference(weight.cpu(), node_ids.cpu(), 3, 1, 0, 0.25)
    torch.testing.assert_close(grad.cpu(), want)
    assert (grad == 0).any() and (grad != 0).any()


@pytest.mark.parametrize("device", DEVICES)
def test_hash_dropout_relu_equals_relu_then_dropout(device):
    """The fused op gives the values and the gradients of ReLU followed by hash_dropout (NaN passes as in relu)."""
    x = torch.randn(40, 9, dtype=torch.float64, device=device)
    x[3, 2] = float("nan")
    node_ids = torch.arange(40, device=device) * 7
    weight = torch.randn(40, 9, dtype=torch.float64, device=device)
    grads = []
    for fused in (True, False):
        v = x.clone().requires_grad_(True)
        out = (hashing.hash_dropout_relu(v, node_ids, 3, 1, 2, 0.4) if fused else
               hashing.hash_dropout(torch.relu(v), node_ids, 3, 1, 2, 0.4))
        out.nan_to_num().mul(weight).sum().backward()
        grads.append((out.detach(), v.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], equal_nan=True)
    torch.testing.assert_close(grads[0][1], grads[1][1])
    assert (grads[0][1] == 0).any() and (grads[0][1] != 0).any()
    assert torch.equal(hashing.hash_dropout_relu(x, node_ids, 3, 1, 2, 0.0).nan_to_num(), torch.relu(x).nan_to_num())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_relu_dropout_grad_is_threshold_backward_then_scale(dtype):
    """The CPU backward of hash_dropout_relu in one pass: the bits of aten's threshold_backward then mul_ (NaN
    outputs pass the gradient, zeros and negatives stop it), opcheck'ed, and a shape mismatch refused."""
    g = torch.randn(300, 33, dtype=torch.float64).to(dtype)
    out = torch.randn(300, 33, dtype=torch.float64).relu().to(dtype)
    out[0, 0], out[1, 1] = float("nan"), -0.0
    scale = 1.0 / 0.6
    got = _ops.relu_dropout_grad(g, out, scale)
    want = torch.ops.aten.threshold_backward(g, out, 0).mul_(scale)
    assert torch.equal(got, want) and got[0, 0] != 0 and got[1, 1] == 0
    torch.library.opcheck(_ops.relu_dropout_grad, (g, out, scale))
    with pytest.raises(RuntimeError, match=r"relu_dropout_grad: `grad` and `out` must have one shape"):
        _ops.relu_dropout_grad(g, out[:5], scale)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("name", OPS)
def test_cuda_equals_cpu(name):
    """The same call on both devices gives the same result (bits, except where the GPU adds atomically)."""
    for cpu_case, gpu_case in zip(sample_inputs("cpu")[name], sample_inputs("cuda")[name]):
        cpu_args, gpu_args = _clone(cpu_case.args), _clone(gpu_case.args)
        got = gpu_case.result(gpu_case.op(*gpu_args), gpu_args)
        want = cpu_case.result(cpu_case.op(*cpu_args), cpu_args)
        moved = tuple(t.cpu() for t in got) if isinstance(got, (tuple, list)) else got.cpu()
        _compare(moved, want, cpu_case.exact and name not in ("quantize_rows",))


def _bad_calls(device):
    """Bad calls and the message both devices give (the CPU names the first bad entry it reads, a GPU the extreme)."""
    dev = torch.device(device)
    src, vals = torch.randn(50, 9, device=dev), torch.randn(1, 9, device=dev)
    idx = lambda v: torch.tensor(v, device=dev)  # noqa: E731
    indptr, indices, x, _, _ = _graph(dev)
    return [
        (lambda: _ops.pack_rows(src, idx([0, 50])), r"pack_rows: `index` entries must be in \[0, 50\) \(got 50"),
        (lambda: _ops.pack_rows(src.int(), idx([0])), r"pack_rows: rows must be float32, float64, float16 or bfloat16"),
        (lambda: _ops.scatter_add_rows_(src, idx([-1]), vals), r"scatter_add_rows_: `index` entries must be in \[0, 50\) \(got -1"),
        (lambda: _ops.unpack_rows_(src, idx([70]), vals), r"unpack_rows_: `index` entries must be in \[0, 50\) \(got 70"),
        (lambda: _ops.quantize_rows(src, idx([99]), torch.float16, False, 0), r"quantize_rows: `index` entries must be in \[0, 50\)"),
        (lambda: _ops.topk_rows(src, idx([-3]), 2), r"topk_rows: `index` entries must be in \[0, 50\) \(got -3"),
        (lambda: _ops.gather_channels(src, idx([1]), torch.tensor([[9]], dtype=torch.int32, device=dev)),
         r"gather_channels: `channels` entries must be in \[0, 9\) \(got 9\)"),
        (lambda: _ops.delta_select_(torch.zeros(1, 9, device=dev), src, idx([50]), 0.1), r"delta_select_: `index` entries must be in \[0, 50\)"),
        (lambda: _ops.spmm_sum(indptr, indices, x[:3], None, None), r"spmm_sum: `indices` entries must be in \[0, 3\) \(got [35]\)"),
        (lambda: _ops.spmm_sum(indptr, indices, x.half(), None, None), r"spmm_sum: `x` must be float32 or float64"),
        (lambda: _ops.spmm_sum_add_(x[:5].clone(), indptr[:-1], indptr[1:], indices, x[2:], 2),
         r"spmm_sum_add_: `indices` entries must be in \[2, 6\) \(got"),
        (lambda: _ops.spmm_sum_add_(x[:5].clone(), indptr[1:], indptr[:-1], indices, x, 0),
         r"spmm_sum_add_: each row's edges must satisfy 0 <= begin <= end <= len\(indices\) = 9"),
        (lambda: _ops.spmm_sum_add_(x[:5].float(), indptr[:-1], indptr[1:], indices, x, 0),
         r"spmm_sum_add_: `out` must be a contiguous \[rows, 7\] Double tensor"),
        (lambda: _ops.csr_from_coo(idx([0, 5]), idx([0, 0]), 5, 2, True), r"csr_from_coo: `row` (ids|entries) must be in \[0, 5\) \(got 5"),
        (lambda: _ops.hash_dropout(src, idx([1, 2]), 0, 0, 0, 0.5), r"hash_dropout: `ids`"),
    ]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", range(len(_bad_calls("cpu"))))
def test_same_checks_on_every_device(device, case):
    call, message = _bad_calls(device)[case]
    with pytest.raises(RuntimeError, match=message):
        call()


def test_reference_graph_is_the_transpose():
    indptr, indices, _, t_indptr, t_indices = _graph("cpu")
    dense = np.zeros((5, 6))
    for r in range(5):
        dense[r, indices[indptr[r]:indptr[r + 1]].numpy()] += 1
    dense_t = np.zeros((6, 5))
    for c in range(6):
        dense_t[c, t_indices[t_indptr[c]:t_indptr[c + 1]].numpy()] += 1
    assert (dense.T == dense_t).all()
