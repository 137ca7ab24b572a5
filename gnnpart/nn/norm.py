"""Normalisation layers for distributed full-graph training."""
from __future__ import annotations

import torch
from torch import nn


class SyncBatchNorm(nn.Module):
    r"""Batch normalisation over the inner rows of all ranks: the statistics are all-reduced, so N ranks compute
    what one process computes on the whole graph (up to the order of the sums).

    .. math::
        \mathbf{x}'_v = \frac{\mathbf{x}_v - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta,
        \qquad \mu = \frac{1}{N} \sum_{u} \mathbf{x}_u, \quad \sigma^2 = \frac{1}{N} \sum_u (\mathbf{x}_u - \mu)^2

    with ``u`` over every node of the graph (the inner nodes of every rank). In training it normalises with these
    batch statistics and updates running estimates (``momentum``, unbiased variance, as
    :class:`torch.nn.BatchNorm1d`); in evaluation it uses the running estimates. Backward all-reduces the two
    per-channel sums the input gradient needs.

    Args:
        channels (int): ``F``.
        eps (float): added to the variance (default 1e-5).
        momentum (float): of the running estimates (default 0.1).

    Shapes:
        ``[I, F]`` -> ``[I, F]``.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = float(eps), float(momentum)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def reset_parameters(self) -> None:
        """Unit scale, zero shift, and running statistics of a fresh layer (as ``torch.nn.BatchNorm1d``)."""
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def forward(self, h: torch.Tensor, graph) -> torch.Tensor:
        """Normalise ``h`` (``[I, F]``) with the statistics of all ranks (``graph.comm``)."""
        if not self.training:
            scale = (self.running_var + self.eps).rsqrt()
            return (h - self.running_mean) * (scale * self.weight) + self.bias
        with torch.no_grad():
            count = graph.comm.sum_scalars([h.shape[0]])[0]
            n = max(count, 1.0)
            mean = graph.comm.allreduce_(h.double().sum(dim=0)) / n
            var = graph.comm.allreduce_(((h.double() - mean) ** 2).sum(dim=0)) / n
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.to(self.running_mean.dtype))
            unbiased = var * (count / max(count - 1.0, 1.0))
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased.to(self.running_var.dtype))
        return _SyncBatchNorm.apply(h, self.weight, self.bias, mean, var, n, graph.comm, self.eps)


class _SyncBatchNorm(torch.autograd.Function):
    """``(h - mean) / sqrt(var + eps) * weight + bias`` with global ``mean`` and ``var`` (over ``n`` rows of all
    ranks); backward differentiates through them, with one all-reduce of two per-channel sums."""

    @staticmethod
    def forward(ctx, h, weight, bias, mean, var, n, comm, eps):
        inv = (var + eps).rsqrt()
        xhat = ((h.double() - mean) * inv).to(h.dtype)
        ctx.save_for_backward(xhat, weight, inv.to(h.dtype))
        ctx.comm, ctx.n = comm, n
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, grad_out):
        xhat, weight, inv = ctx.saved_tensors
        width = xhat.shape[1]
        local = torch.cat([grad_out.double().sum(dim=0), (grad_out.double() * xhat.double()).sum(dim=0)])
        sums = ctx.comm.allreduce_(local.clone())
        mean_dy = (sums[:width] / ctx.n).to(grad_out.dtype)
        mean_dy_xhat = (sums[width:] / ctx.n).to(grad_out.dtype)
        grad_h = (weight * inv) * (grad_out - mean_dy - xhat * mean_dy_xhat)
        # the parameters' gradients stay local sums: the trainer's gradient all-reduce adds them over the ranks
        return grad_h, local[width:].to(weight.dtype), local[:width].to(weight.dtype), None, None, None, None, None
