"""Learned halo gates (DISCO-style): a learnable gate per channel of the rows a layer sends to other ranks.

A layer with ``learned:L1[:MIN]`` multiplies the halo rows it receives by its gate, channel by channel, and
the trainer adds ``L1 * sum |gate|`` to the loss. Only the channels whose ``|gate| >= MIN`` are sent (the
exchange's ``Learned`` channel choice asks :meth:`HaloGates.kept`); the others are zero on the receiving side. A channel whose gate falls below ``MIN`` stops receiving gradient from
the data, so the L1 term keeps it closed: the model learns to need fewer channels across partitions.
"""
from __future__ import annotations

import torch
from torch import nn


class HaloGates(nn.Module):
    """Gates of the layers that use a ``learned`` policy.

    Args:
        widths (dict): ``{layer: width}`` of the rows each gated layer exchanges.
        l1 (dict): ``{layer: L1 weight}``.
        minimum (dict): ``{layer: gate threshold}``.
    """

    def __init__(self, widths: dict, l1: dict, minimum: dict):
        super().__init__()
        self.gates = nn.ParameterDict({str(layer): nn.Parameter(torch.ones(width)) for layer, width in widths.items()})
        self.l1 = {int(k): float(v) for k, v in l1.items()}
        self.minimum = {int(k): float(v) for k, v in minimum.items()}

    def has(self, layer) -> bool:
        return layer is not None and str(layer) in self.gates

    def kept(self, layer: int) -> torch.Tensor:
        """int64 channels of ``layer`` that are sent (``|gate| >= MIN``)."""
        gate = self.gates[str(layer)]
        return (gate.detach().abs() >= self.minimum[layer]).nonzero().view(-1)

    def kept_fraction(self) -> dict:
        """``{layer: fraction of channels sent}``."""
        return {layer: self.kept(layer).numel() / self.gates[str(layer)].numel() for layer in self.l1}

    def penalty(self) -> torch.Tensor:
        """``sum over layers of L1 * sum |gate|``."""
        return sum(self.l1[int(k)] * g.abs().sum() for k, g in self.gates.items())

    def gate_halo(self, local: torch.Tensor, layer: int, num_inner: int) -> torch.Tensor:
        """``[L, F]`` -> ``[L, F]``: the inner rows as they are, the halo rows times the gate, channel by channel.

        The exchange sent only the kept channels (a :class:`~gnnpart.comm.channel_choice.Learned` choice bound
        to :meth:`kept`), so the others are zero in the halo rows and their gates get no gradient from the data.
        """
        gate = self.gates[str(layer)].to(local.dtype)
        return torch.cat([local[:num_inner], local[num_inner:] * gate])
