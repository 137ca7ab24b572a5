"""Dense products of the built-in layers with fewer passes over ``[nodes, width]`` memory.

:func:`dual_linear` computes ``a Wa^T + b Wb^T + bias`` (GraphSAGE's aggregated and root terms) into one output:
the second product accumulates into the first's result in place, so the sum costs neither a third tensor nor a
pass over it, and backward keeps only what the weight and input gradients read.

:func:`ones_linear` computes ``x W + bias`` for a constant ``x`` stored with a column of ones after its own
(``[N, F + 1]``, :func:`with_ones`): backward's one product against that column gives the weight's gradient and
the bias's (the column sums of the output gradient) together, instead of a product and a separate pass over the
``[N, C]`` gradient.
"""
from __future__ import annotations

import torch


class _DualLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, weight_a, weight_b, bias):
        out = torch.addmm(bias, a, weight_a.t()) if bias is not None else torch.mm(a, weight_a.t())
        out.addmm_(b, weight_b.t())
        ctx.save_for_backward(a, b, weight_a, weight_b)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, weight_a, weight_b = ctx.saved_tensors
        need_a, need_b, need_wa, need_wb, need_bias = ctx.needs_input_grad
        return (grad.mm(weight_a) if need_a else None,
                grad.mm(weight_b) if need_b else None,
                grad.t().mm(a) if need_wa else None,
                grad.t().mm(b) if need_wb else None,
                grad.sum(0) if need_bias and ctx.has_bias else None)


def dual_linear(a: torch.Tensor, b: torch.Tensor, weight_a: torch.Tensor, weight_b: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ weight_a.T + b @ weight_b.T (+ bias)``, written once into one output, differentiable in every input.

    Args:
        a (torch.Tensor), b (torch.Tensor): ``[N, A]`` and ``[N, B]``.
        weight_a (torch.Tensor), weight_b (torch.Tensor): ``[C, A]`` and ``[C, B]`` (``nn.Linear`` layout).
        bias (torch.Tensor, optional): ``[C]``.

    Shapes:
        ``[N, A]``, ``[N, B]`` -> ``[N, C]``.
    """
    return _DualLinear.apply(a, b, weight_a, weight_b, bias)


class _OnesLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_ones, weight, bias):
        ctx.save_for_backward(x_ones)
        return torch.addmm(bias, x_ones[:, :-1], weight)

    @staticmethod
    def backward(ctx, grad):
        (x_ones,) = ctx.saved_tensors
        both = x_ones.t().mm(grad.to(x_ones.dtype))  # [F + 1, C]: the weight's gradient, then the bias's (1^T grad)
        return None, both[:-1], both[-1]


def with_ones(x: torch.Tensor) -> torch.Tensor:
    """``[x | 1]``: a copy of ``x`` ``[N, F]`` with a column of ones after its own, ``[N, F + 1]``."""
    out = torch.empty(x.shape[0], x.shape[1] + 1, dtype=x.dtype, device=x.device)
    out[:, :-1] = x
    out[:, -1] = 1
    return out


def ones_linear(x_ones: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x @ weight + bias`` for a constant ``x`` given as ``x_ones = with_ones(x)``; differentiable in ``weight``
    and ``bias`` (not in ``x``, which is constant). Backward is one product, ``x_ones^T grad``.

    Args:
        x_ones (torch.Tensor): ``[N, F + 1]``, its last column ones (:func:`with_ones`), without gradient.
        weight (torch.Tensor): ``[F, C]`` (``x @ weight`` layout).
        bias (torch.Tensor): ``[C]``.

    Shapes:
        ``[N, F + 1]`` -> ``[N, C]``.
    """
    if x_ones.requires_grad:
        raise ValueError("ones_linear: x_ones must be constant (no gradient); use torch.addmm for a learned input")
    return _OnesLinear.apply(x_ones, weight, bias)
