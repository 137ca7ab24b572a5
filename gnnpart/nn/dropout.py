"""Partition-independent dropout: the mask of a node's row is a hash of its global id, not of where it lives."""
from __future__ import annotations

import torch
from torch import nn

from gnnpart.hashing import hash_dropout, hash_dropout_relu


class HashDropout(nn.Module):
    r"""Dropout whose mask is hashed from (seed, epoch, stream, global node id, channel).

    .. math::
        \mathbf{x}'_{v,c} = \frac{m_{v,c}}{1 - p} \, \mathbf{x}_{v,c}, \qquad
        m_{v,c} = [\,\mathrm{hash}(\mathrm{seed}, \mathrm{epoch}, \mathrm{stream}, v, c) \geq p\,]

    Every rank that holds node ``v`` draws the same mask for it, so N ranks compute what one process computes.
    Like :class:`torch.nn.Dropout` it acts only in training mode (``model.train()``); the seed and the epoch come
    from the graph (the Trainer advances ``graph.epoch``).

    Args:
        p (float): drop probability in ``[0, 1)``.

    Shapes:
        ``[I, F]`` (this rank's inner rows) -> ``[I, F]``.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"`p` (dropout) must be in [0, 1) (got {p!r})")
        self.p = float(p)

    def forward(self, h: torch.Tensor, graph, stream: int) -> torch.Tensor:
        """Drop elements of ``h`` (``[I, F]``, the inner rows of ``graph``) with the draw of ``stream``.

        Args:
            h (torch.Tensor): ``[I, F]``.
            graph (LocalGraph): gives the global ids, the seed and the epoch.
            stream (int): keys the draw; use a different one for each place a model drops (layer number).
        """
        if not self.training or self.p == 0.0:
            return h
        return hash_dropout(h, graph.inner_ids, graph.seed, graph.epoch, stream, self.p)

    def after_relu(self, h: torch.Tensor, graph, stream: int) -> torch.Tensor:
        """``self(relu(h), graph, stream)`` in one pass (:func:`gnnpart.hashing.hash_dropout_relu`), and plain
        ReLU in evaluation mode or with ``p = 0``.

        Args:
            h (torch.Tensor): ``[I, F]``.
            graph (LocalGraph): gives the global ids, the seed and the epoch.
            stream (int): keys the draw.
        """
        if not self.training or self.p == 0.0:
            return torch.relu(h)
        return hash_dropout_relu(h, graph.inner_ids, graph.seed, graph.epoch, stream, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
