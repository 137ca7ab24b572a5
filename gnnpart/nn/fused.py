"""Dense products of the built-in layers with fewer passes over ``[nodes, width]`` memory.

:func:`dual_linear` computes ``a Wa^T + b Wb^T + bias`` (GraphSAGE's aggregated and root terms) into one output:
the second product accumulates into the first's result in place, so the sum costs neither a third tensor nor a
pass over it, and backward keeps only what the weight and input gradients read.
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
