"""gnnpart.nn.fused: dual_linear (GraphSAGE's two products into one output, with the gradients of two nn.Linear
maps) and ones_linear (a constant input's product whose backward gives the bias's gradient from the weight's
product), and the built-in layers' values unchanged by them."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gnnpart.nn.fused import dual_linear, ones_linear, with_ones


@pytest.mark.parametrize("bias", [True, False])
def test_dual_linear_is_two_linear_maps(bias):
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(30, k, generator=g, dtype=torch.float64, requires_grad=True) for k in (5, 7))
    wa, wb = (torch.randn(4, k, generator=g, dtype=torch.float64, requires_grad=True) for k in (5, 7))
    c = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True) if bias else None
    got = dual_linear(a, b, wa, wb, c)
    want = F.linear(a, wa, c) + F.linear(b, wb)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    inputs = (a, b, wa, wb) + ((c,) if bias else ())
    assert torch.autograd.gradcheck(lambda *t: dual_linear(*t[:4], t[4] if bias else None), inputs)


def test_dual_linear_computes_only_the_gradients_asked_for():
    a, b = torch.randn(6, 3), torch.randn(6, 3)  # constant inputs, as a cached first layer's
    wa, wb = torch.randn(2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    dual_linear(a, b, wa, wb).sum().backward()
    assert a.grad is None and b.grad is None
    torch.testing.assert_close(wa.grad, a.sum(0).expand(2, 3))
    torch.testing.assert_close(wb.grad, b.sum(0).expand(2, 3))


def test_ones_linear_is_addmm_with_its_gradients():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64)
    w = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    x_ones = with_ones(x)
    assert x_ones.shape == (40, 7) and torch.equal(x_ones[:, :6], x) and bool((x_ones[:, 6] == 1).all())
    torch.testing.assert_close(ones_linear(x_ones, w, b), torch.addmm(b, x, w), rtol=0, atol=0)
    assert torch.autograd.gradcheck(lambda w_, b_: ones_linear(x_ones, w_, b_), (w, b))
    upstream = torch.randn(40, 3, generator=g, dtype=torch.float64)
    ones_linear(x_ones, w, b).backward(upstream)
    torch.testing.assert_close(w.grad, x.t() @ upstream, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.grad, upstream.sum(0), rtol=1e-12, atol=1e-12)


def test_ones_linear_refuses_a_learned_input():
    x = torch.randn(5, 2, requires_grad=True)
    with pytest.raises(ValueError, match="ones_linear: x_ones must be constant"):
        ones_linear(with_ones(x), torch.randn(2, 3), torch.randn(3))

