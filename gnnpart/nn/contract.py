"""The layer contract: what the Trainer and the halo exchange expect of a layer that exchanges halo rows.

A model may hold any modules; the ones that exchange halo rows are :class:`HaloLayer` subclasses (the built-in
``Dist*Conv`` layers, and :class:`~gnnpart.nn.HaloConv` around any PyG conv). The Trainer finds them with
:func:`halo_layers` and relies on these attributes alone:

``layer_id`` (int)
    The layer's number, ``0 .. n-1``, unique in the model. It selects the layer's ``--halo`` policy (one spec per
    layer), keys its byte counts, its learned gate and its exchange state. Left ``None``, :func:`halo_layers`
    numbers the layers in the order ``model.modules()`` lists them (the order the model assigned them).
``exchange_width`` (int)
    The width of the rows the layer exchanges (a learned gate has one entry per channel of it).
``exchanges_each_epoch`` (bool)
    False when the layer exchanges once and reuses the result (a cached aggregation of a constant input). Such
    a layer always exchanges exactly, and gets no learned gate.
``constant_input`` (bool, settable)
    Set by the model on a layer whose input is the model's unchanging input (the features, without input
    dropout). A layer may then compute what depends on its input once; it need not.
``prepare(x, graph)``
    Called once by the Trainer, before training, on the layers with ``exchanges_each_epoch`` False, with the
    model's input: they fill their caches there (so the one-time exchange is counted apart from the epochs).
    Without it (inference, a model run outside the Trainer) such a layer fills its cache on its first forward.

``runs_on_blocks`` (bool)
    Whether the layer runs on the sampled blocks of mini-batch training (:mod:`gnnpart.sample`): its input then
    has one row per *source* of its block (the targets first) instead of one per inner node, ``graph.halo(h)``
    returns it as it is, and the layer reads its targets' own rows with ``graph.targets(h)`` (on a ``LocalGraph``,
    ``h`` itself). A layer that needs only its targets' in-edges, their rows and whole-graph per-node quantities
    (degrees) may set it; default False (refused in mini-batch training, with ``blocks_refusal`` as the reason
    where the layer gives one).

A layer fetches its halo rows with ``graph.halo(h_inner, self)``: the exchange follows the layer's mode
(``self.training``, set by ``model.train()`` / ``model.eval()``): the layer's policy in training, exact (but for
learned gates) in evaluation. There is no other mode flag.
"""
from __future__ import annotations

from torch import nn


class HaloLayer(nn.Module):
    """Base class of layers that exchange halo rows (see the module docstring for the contract).

    Subclasses set :attr:`exchange_width` (a property or an attribute) and may override
    :attr:`exchanges_each_epoch`; their ``forward(x, graph, ...)`` calls ``graph.halo(x, self)``.

    Attributes:
        layer_id (int | None): the layer's number in its model (assigned by :func:`halo_layers` when None).
        sums_halo (bool): the layer aggregates through ``graph.aggregate_halo`` (a sum over its in-edges). Any layer
            that calls ``aggregate_halo`` gets partial sums when the graph has a plan (``aggregate_at``); this flag
            only lets a policy that does not compose with them be refused when the Trainer sets the policies
            instead of at the layer's first step (default False; True for GCN, GraphSAGE and GIN).
        runs_on_blocks (bool): the layer runs on sampled blocks (see the module docstring; default False).
    """

    layer_id: int | None = None
    sums_halo: bool = False
    runs_on_blocks: bool = False

    def __init__(self):
        super().__init__()
        self.layer_id = None
        self.constant_input = False

    @property
    def exchange_width(self) -> int:
        """Width of the rows this layer exchanges."""
        raise NotImplementedError(f"{type(self).__name__} must define `exchange_width` (the HaloLayer contract)")

    @property
    def exchanges_each_epoch(self) -> bool:
        """False when the layer exchanges once and reuses the result (then it always exchanges exactly)."""
        return True

    def reset_parameters(self) -> None:
        """Re-initialise the layer's parameters: by default each child module's ``reset_parameters`` (layers with
        parameters of their own override it, as PyG's convs do)."""
        for child in self.children():
            reset = getattr(child, "reset_parameters", None)
            if callable(reset):
                reset()

    def prepare(self, x, graph) -> None:
        """Fill what the layer computes once from the model's input ``x`` (``[I, F]``); default: nothing.

        Args:
            x (torch.Tensor): the model's input features, ``[I, F]``.
            graph (LocalGraph): this rank's graph.
        """


def halo_layers(model: nn.Module) -> list[HaloLayer]:
    """The :class:`HaloLayer` modules of ``model``, ordered by ``layer_id`` (numbered here if none has one).

    Args:
        model (torch.nn.Module): a model built from halo layers.

    Raises:
        TypeError: if the model has no halo layer (a model that exchanges nothing cannot be trained distributed;
            wrap PyG convs in :class:`~gnnpart.nn.HaloConv` or subclass :class:`HaloLayer`).
        ValueError: if some layers have ids and others not, or the ids are not ``0 .. n-1`` (each once).
    """
    layers = [m for m in model.modules() if isinstance(m, HaloLayer)]
    if not layers:
        raise TypeError(f"{type(model).__name__} has no HaloLayer: every layer that reads neighbours must exchange "
                        "halo rows. Wrap PyG convs with gnnpart.nn.HaloConv(conv), or subclass gnnpart.nn.HaloLayer "
                        "and call graph.halo(x, self) (see gnnpart.nn.contract)")
    ids = [layer.layer_id for layer in layers]
    if all(i is None for i in ids):
        for number, layer in enumerate(layers):
            layer.layer_id = number
        return layers
    if any(i is None for i in ids) or sorted(ids) != list(range(len(layers))):
        raise ValueError(f"the `layer_id`s of the HaloLayers of {type(model).__name__} must be 0..{len(layers) - 1}, "
                         f"each once, or all None (got {ids})")
    return sorted(layers, key=lambda layer: layer.layer_id)
