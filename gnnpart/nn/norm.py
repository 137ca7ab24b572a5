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

    It is called as ``norm(h, graph)`` (the built-in models), or as ``norm(h)``, a drop-in for
    ``torch.nn.BatchNorm1d`` inside any module (:func:`~gnnpart.nn.convert_sync_norm` puts it there): the
    communicator is then the one the Trainer binds (:attr:`comm`).

    Args:
        channels (int): ``F``.
        eps (float): added to the variance (default 1e-5).
        momentum (float): of the running estimates (default 0.1).
        affine (bool): learn the scale and shift (default True; False: fixed at 1 and 0).
        track_running_stats (bool): keep running estimates for evaluation (default True; False: evaluation also
            normalises with the statistics of all ranks, as ``torch.nn.BatchNorm1d`` does).

    Attributes:
        comm (Communicator | None): the communicator of ``norm(h)`` calls (set by the Trainer).

    Shapes:
        ``[I, F]`` -> ``[I, F]``.
    """

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        self.eps, self.momentum = float(eps), float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
        else:
            self.register_buffer("weight", torch.ones(channels), persistent=False)
            self.register_buffer("bias", torch.zeros(channels), persistent=False)
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))
        else:
            self.running_mean = self.running_var = None
        self.comm = None

    def __getstate__(self):
        """A copy (``copy.deepcopy``, pickling) is bound to no communicator: the Trainer binds its own."""
        state = dict(self.__dict__)
        state["comm"] = None
        return state

    def reset_parameters(self) -> None:
        """Unit scale, zero shift, and running statistics of a fresh layer (as ``torch.nn.BatchNorm1d``)."""
        with torch.no_grad():
            self.weight.fill_(1.0)
            self.bias.zero_()
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)

    def forward(self, h: torch.Tensor, graph=None) -> torch.Tensor:
        """Normalise ``h`` (``[I, F]``) with the statistics of all ranks (``graph.comm``, else :attr:`comm`)."""
        if not self.training and self.track_running_stats:
            scale = (self.running_var + self.eps).rsqrt()
            return (h - self.running_mean) * (scale * self.weight) + self.bias
        comm = graph.comm if graph is not None else self.comm
        if comm is None:
            raise RuntimeError("SyncBatchNorm called as norm(h) has no communicator: train the model with "
                               "gnnpart's Trainer (it binds one), or call it as norm(h, graph)")
        if h.dim() != 2:
            raise ValueError(f"SyncBatchNorm takes one row per node, [I, F] (got a tensor of shape {list(h.shape)})")
        with torch.no_grad():
            count = comm.sum_scalars([h.shape[0]])[0]
            n = max(count, 1.0)
            mean = comm.allreduce_(h.double().sum(dim=0)) / n
            var = comm.allreduce_(((h.double() - mean) ** 2).sum(dim=0)) / n
            if self.training and self.track_running_stats:
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.to(self.running_mean.dtype))
                unbiased = var * (count / max(count - 1.0, 1.0))
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased.to(self.running_var.dtype))
        return _SyncBatchNorm.apply(h, self.weight, self.bias, mean, var, n, comm, self.eps)


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
