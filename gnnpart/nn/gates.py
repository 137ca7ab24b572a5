"""Learned halo gates (DISCO-style): a learnable gate per channel of the rows a layer sends to other ranks.

A layer with ``learned:L1[:MIN]`` multiplies the halo rows it receives by its gate, channel by channel, and
the trainer adds ``L1 * sum |gate|`` to the loss. Only the channels whose ``|gate| >= MIN`` are sent (the
exchange's ``Learned`` channel choice asks :meth:`HaloGates.kept`); the others are zero on the receiving side. A channel whose gate falls below ``MIN`` stops receiving gradient from
the data, so the L1 term keeps it closed: the model learns to need fewer channels across partitions.
"""
from __future__ import annotations

import torch
from torch import nn

from gnnpart.comm.policy.spec import parse_halo
from gnnpart.nn.contract import halo_layers


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

    def reset_parameters(self) -> None:
        """Every gate open (1.0), as when made."""
        for gate in self.gates.values():
            nn.init.ones_(gate)

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

        The exchange sent only the kept channels (a :class:`~gnnpart.comm.policy.channel_choice.Learned` choice bound
        to :meth:`kept`), so the others are zero in the halo rows and their gates get no gradient from the data.
        """
        gate = self.gates[str(layer)].to(local.dtype)
        return torch.cat([local[:num_inner], local[num_inner:] * gate])


def _wanted(model: nn.Module, halo):
    """``(widths, l1, minimum)`` of the gates ``halo`` needs on ``model`` (by layer id), or None."""
    layers = halo_layers(model)
    policies = parse_halo(halo, len(layers))
    learned = {layer.layer_id: (layer, p) for layer, p in zip(layers, policies)
               if p.learned is not None and layer.exchanges_each_epoch}
    if not learned:
        return None
    return ({i: layer.exchange_width for i, (layer, _) in learned.items()},
            {i: p.learned for i, (_, p) in learned.items()}, {i: p.learned_min for i, (_, p) in learned.items()})


def _matches(gates, wanted) -> bool:
    widths, l1, minimum = wanted
    return (isinstance(gates, HaloGates) and gates.l1 == l1 and gates.minimum == minimum
            and {int(k): g.numel() for k, g in gates.gates.items()} == widths)


def attach_halo_gates(model: nn.Module, halo) -> HaloGates | None:
    """Give ``model`` the learned halo gates its ``halo`` policies need, as ``model.halo_gates``.

    Call it before building an optimizer, so that the optimizer holds the gates (the Trainer calls it when it
    builds the optimizer itself, and refuses a user's optimizer that lacks them). A layer gets a gate when its
    policy has a ``learned`` term and it exchanges each epoch. Calling it again with the same policies keeps the
    gates it made.

    Args:
        model (torch.nn.Module): a model of :class:`~gnnpart.nn.HaloLayer` layers.
        halo (str | list | HaloPolicy, optional): the ``--halo`` spec (see :mod:`gnnpart.comm.policy`).

    Returns:
        the gates, or None when no layer needs one.
    """
    wanted = _wanted(model, halo)
    if wanted is None:
        return None
    existing = getattr(model, "halo_gates", None)
    if _matches(existing, wanted):
        return existing
    model.halo_gates = HaloGates(*wanted)
    return model.halo_gates


def attached_halo_gates(model: nn.Module, halo) -> HaloGates | None:
    """The gates :func:`attach_halo_gates` attached for ``halo``, or None if ``halo`` needs none.

    Raises:
        ValueError: if ``halo`` needs gates and the model has none, or others (saying to call
            :func:`attach_halo_gates` before building the optimizer).
    """
    wanted = _wanted(model, halo)
    if wanted is None:
        return None
    existing = getattr(model, "halo_gates", None)
    if not _matches(existing, wanted):
        state = "has none" if existing is None else "has gates for other policies"
        raise ValueError(f"`halo` has learned gates, but the model {state}: call gnnpart.nn.attach_halo_gates(model, "
                         "halo) before building the optimizer from model.parameters()")
    return existing
