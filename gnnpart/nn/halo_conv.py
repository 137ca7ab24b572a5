"""Any PyG message-passing conv, run distributed: exchange the halo rows, then call the conv in bipartite form."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from gnnpart.nn.contract import HaloLayer

_SOURCE_DEGREES = ("normalises each edge by its source's degree, which a part does not see whole for a halo node; "
                   "use GCNConv (HaloConv gives it the whole graph's normalisation)")
HOP_BY_HOP = {
    "SGConv": lambda c: (False, c.add_self_loops),
    "SSGConv": lambda c: (False, c.add_self_loops),
    "TAGConv": lambda c: (False, False) if c.normalize else None,
    "APPNP": lambda c: (False, c.add_self_loops) if c.normalize else None,
    "MixHopConv": lambda c: (False, c.add_self_loops),
    "GatedGraphConv": lambda c: None,
}
"""Convs that call ``propagate`` several times (hops) in one call, run with the halo rows refreshed before every
hop; each maps to the ``(improved, add_self_loops)`` of the ``gcn_norm`` it runs itself (None: it runs none)."""

REFUSED = {
    "ARMAConv": ("propagates num_stacks stacks of rows (not one row per node) hop after hop inside one call; stack "
                 "HaloConv(GCNConv) layers instead"),
    "PANConv": ("sums powers of the adjacency matrix that it builds inside one call, so one halo exchange before "
                "the layer is not enough; stack HaloConv(GCNConv) layers instead"),
    "ChebConv": ("takes the Laplacian's degrees over each edge's source, which a part does not see whole; use "
                 "GCNConv (HaloConv gives it the whole graph's normalisation)"),
    "GCN2Conv": "needs the initial features x_0 at every layer, which HaloConv does not pass yet; use GCNConv",
    "FAConv": "needs the initial features x_0 at every layer, which HaloConv does not pass yet; use GATConv",
    "LGConv": _SOURCE_DEGREES, "PDNConv": _SOURCE_DEGREES, "EGConv": _SOURCE_DEGREES,
}
"""Convs that HaloConv cannot make exact yet, with the reason each is refused."""


def takes_pair(conv) -> bool:
    """Whether ``conv.forward`` takes ``x`` as a ``(x_src, x_dst)`` pair (PyG annotates it ``PairTensor``)."""
    import inspect

    params = list(inspect.signature(conv.forward).parameters.values())
    return bool(params) and "Tuple" in str(params[0].annotation)


@contextmanager
def _normalize_off(conv):
    saved = conv.normalize
    conv.normalize = False
    try:
        yield
    finally:
        conv.normalize = saved


class HaloConv(HaloLayer):
    r"""A PyG ``MessagePassing`` layer, run distributed and exact.

    .. math::
        \mathbf{X}'_{I} = \mathrm{conv}\big((\mathbf{X}_{L}, \mathbf{X}_{I}),\ \mathcal{E}_{L \to I}\big),
        \qquad \mathbf{X}_{L} = [\mathbf{X}_{I};\ \mathrm{halo}(\mathbf{X}_{I})]

    Before the conv, the halo rows are fetched from their owners (under the layer's ``--halo`` policy, every byte
    counted); the conv then runs in bipartite form, ``conv((x_local, x_inner), graph.edge_index)``: sources are
    local ids (inner, then halo), targets the inner nodes. This is exact whenever a target's output depends only on
    its own row, its in-neighbours' rows and the edges: ``GraphConv``, ``SAGEConv`` (any aggregation),
    ``GATConv``, ``GATv2Conv``, ``TransformerConv``, ``GINConv`` and the like (self loops are those of the inner
    nodes, whose local ids are the same as sources and targets).

    ``GCNConv`` normalises by degrees. A part lacks the halo nodes' other edges, so with ``normalize=True`` the
    wrapper passes the weights of PyG's ``gcn_norm`` on the whole graph instead (from the global degrees the
    partition stores, and each halo node's self loop fetched from its owner once) and runs the conv with
    ``normalize`` off; the result is exact too.

    A conv without a bipartite form (``x`` not a pair: ``PNAConv``, ``ClusterGCNConv``, ``AGNNConv``) runs on the
    local square graph, ``conv(x_local, graph.edge_index)``, and its inner rows are kept: every edge goes into an
    inner node, so this is exact when a target's output depends only on its own row, its in-neighbours' rows and
    its in-degree (complete for an inner node).

    A conv that propagates several hops in one call (``SGConv``, ``SSGConv``, ``TAGConv``, ``APPNP``,
    ``MixHopConv``, ``GatedGraphConv``: :data:`HOP_BY_HOP`) runs on the local square graph too, with its halo rows
    refreshed from their owners before every hop after the first (an exact exchange per hop, forward and backward,
    its bytes counted as the layer's), and with edges whose ``gcn_norm`` is the whole graph's
    (:meth:`~gnnpart.nn.LocalGraph.degree_completed_edges`). Convs that need ``x_0``, normalise by source degrees,
    or build powers of the adjacency themselves are refused, each with its reason (:data:`REFUSED`).

    Edge features: with ``edge_attr=True`` the wrapper passes ``edge_attr=graph.edge_attr`` (the partition's
    ``[E, D]`` edge features, in the order of ``graph.edge_index``, cast to the input's dtype) to the conv, as
    ``GINEConv``, ``TransformerConv(edge_dim=D)``, ``GATConv(edge_dim=D)`` or ``GENConv`` take it. An edge's
    features live with its target's part, so they are never exchanged.

    Args:
        conv (torch_geometric.nn.MessagePassing): the layer.
        exchange_width (int, optional): width of the exchanged rows (default: the conv's ``in_channels``, its
            source side if a tuple).
        edge_attr (bool): pass the graph's edge features to the conv (default False).

    Shapes:
        ``[I, F_in]`` -> ``[I, F_out]``; it exchanges ``[I, F_in]`` -> ``[L, F_in]``.
    """

    def __init__(self, conv: nn.Module, exchange_width: int | None = None, edge_attr: bool = False):
        super().__init__()
        from torch_geometric.nn import GCNConv, MessagePassing

        if not isinstance(conv, MessagePassing):
            raise TypeError(f"`conv` must be a torch_geometric MessagePassing layer (got {type(conv).__name__})")
        name = type(conv).__name__
        if name in REFUSED:
            raise ValueError(f"HaloConv({name}): {name} {REFUSED[name]}")
        self.conv = conv
        self._is_gcn = isinstance(conv, GCNConv)
        self._pair = takes_pair(conv)
        self._hops = HOP_BY_HOP.get(name)
        if self._hops is not None and getattr(conv, "dropout", 0):
            raise ValueError(f"HaloConv({name}): its dropout of edges draws at random on each rank; set dropout=0 "
                             "(and use gnnpart.nn.HashDropout on rows, which is the same on any number of ranks)")
        if edge_attr and self._is_gcn:
            raise ValueError("GCNConv takes edge weights, not edge features: leave `edge_attr` False (HaloConv passes "
                             "GCNConv the whole graph's normalisation)")
        self.edge_attr = bool(edge_attr)
        width = exchange_width if exchange_width is not None else getattr(conv, "in_channels", None)
        width = width[0] if isinstance(width, (tuple, list)) else width
        self._exchange_width = width

    def reset_parameters(self) -> None:
        """The wrapped conv's ``reset_parameters``."""
        self.conv.reset_parameters()

    @property
    def exchange_width(self) -> int:
        """Width of the exchanged rows (the conv's input width)."""
        if not isinstance(self._exchange_width, int) or self._exchange_width < 1:
            raise ValueError(f"HaloConv({type(self.conv).__name__}) does not know its input width "
                             f"(in_channels={self._exchange_width}): pass `exchange_width`")
        return self._exchange_width

    def forward(self, x: torch.Tensor, graph, *args, **kwargs) -> torch.Tensor:
        """Exchange, then run the conv for the inner nodes.

        Args:
            x (torch.Tensor): ``[I, F_in]`` this rank's rows.
            graph (LocalGraph): this rank's graph.
            *args, **kwargs: passed on to the conv after ``edge_index``.
        """
        x_local = graph.halo(x, self)
        if self._is_gcn and self.conv.normalize:
            edge_index, weight = graph.gcn_norm(self.conv.improved, self.conv.add_self_loops)
            with _normalize_off(self.conv):
                return self.conv(x_local, edge_index, weight.to(x.dtype), *args, **kwargs)[: graph.num_inner]
        if self._is_gcn:
            return self.conv(x_local, graph.edge_index, *args, **kwargs)[: graph.num_inner]
        if self.edge_attr:
            if graph.edge_attr is None:
                raise ValueError(f"HaloConv({type(self.conv).__name__}, edge_attr=True) needs edge features, and this "
                                 "partition has none: partition a graph with `edge_attr`")
            kwargs["edge_attr"] = graph.edge_attr.to(x.dtype)
        if self._hops is not None:
            return self._hop_by_hop(x_local, graph, *args, **kwargs)
        if not self._pair:  # the square local graph: every edge goes into an inner node; keep the inner rows
            return self.conv(x_local, graph.edge_index, *args, **kwargs)[: graph.num_inner]
        return self.conv((x_local, x), graph.edge_index, *args, **kwargs)

    def _hop_by_hop(self, x_local: torch.Tensor, graph, *args, **kwargs) -> torch.Tensor:
        """A multi-hop conv on the local square graph, the halo rows refreshed from their owners before every hop
        after the first (one exchange per hop, forward and backward, counted as the layer's), with the whole
        graph's ``gcn_norm`` (:meth:`LocalGraph.degree_completed_edges`)."""
        name = type(self.conv).__name__
        policy = graph.policies.get(self.layer_id)
        gated = graph.gates is not None and graph.gates.has(self.layer_id)
        if (policy is not None and not policy.is_exact) or gated:
            raise ValueError(f"HaloConv({name}) exchanges once per hop, which only the exact halo exchange does: give "
                             f"its layer ({self.layer_id}) the exact policy (--halo ...,exact,...)")
        if args or "edge_weight" in kwargs:
            raise ValueError(f"HaloConv({name}) gives the conv the whole graph's edge weights itself: pass no "
                             "edge_weight")
        norm = self._hops(self.conv)
        if norm is None:
            edge_index, weight = graph.edge_index, None
        else:
            edge_index, weight = graph.degree_completed_edges(*norm)
            weight = weight.to(x_local.dtype)
        num_inner = graph.num_inner
        propagate = self.conv.propagate

        def refreshed(edge_index, size=None, **inputs):
            x = inputs.get("x")
            if isinstance(x, torch.Tensor) and x is not x_local and x.dim() == 2 and x.shape[0] == graph.num_local:
                inputs["x"] = graph.halo(x[:num_inner], self)
            return propagate(edge_index, size=size, **inputs)

        self.conv.propagate = refreshed
        try:
            out = self.conv(x_local, edge_index, weight, **kwargs) if weight is not None else \
                self.conv(x_local, edge_index, **kwargs)
        finally:
            del self.conv.propagate  # the class's method again
        return out[:num_inner]
