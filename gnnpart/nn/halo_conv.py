"""Any PyG message-passing conv, run distributed: exchange the halo rows, then call the conv in bipartite form."""
from __future__ import annotations

import inspect
from contextlib import ExitStack

import torch
from torch import nn

from gnnpart.nn.contract import HaloLayer
from gnnpart.nn.conv_forms import (HOP_BY_HOP, NORM_BY_WEIGHTS, REFUSED, TARGET_ONLY_INPUTS, Fixed, chebyshev_norm,
                                   learned_degree_edges, replaced)

__all__ = ["HaloConv", "takes_pair", "HOP_BY_HOP", "REFUSED"]

def takes_pair(conv) -> bool:
    """Whether ``conv.forward`` takes ``x`` as a ``(x_src, x_dst)`` pair (PyG annotates it ``PairTensor``; a user's
    conv may write ``tuple[Tensor, Tensor]``)."""
    params = list(inspect.signature(conv.forward).parameters.values())
    return bool(params) and "tuple" in str(params[0].annotation).lower()


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

    ``GCNConv``, ``GCN2Conv``, ``FAConv`` and ``DNAConv`` normalise by degrees (:data:`NORM_BY_WEIGHTS`). A part
    lacks the halo nodes' other edges, so with ``normalize=True`` the wrapper passes the weights of PyG's
    ``gcn_norm`` on the whole graph instead (from the global degrees the partition stores, and each halo node's self
    loop fetched from its owner once) and runs the conv with ``normalize`` off; the result is exact too.
    ``EGConv``'s ``symnorm`` gets the same weights, and ``PDNConv``'s learned edge weights are summed into each
    node's degree by its owner and sent to the parts where it is a halo node.

    A conv without a bipartite form (``x`` not a pair: ``PNAConv``, ``ClusterGCNConv``, ``AGNNConv``) runs on the
    local square graph, ``conv(x_local, graph.edge_index)``, and its inner rows are kept: every edge goes into an
    inner node, so this is exact when a target's output depends only on its own row, its in-neighbours' rows and
    its in-degree (complete for an inner node).

    A conv that propagates several hops in one call (``SGConv``, ``SSGConv``, ``TAGConv``, ``APPNP``,
    ``MixHopConv``, ``GatedGraphConv``, ``ARMAConv``, ``ChebConv``, ``AntiSymmetricConv``: :data:`HOP_BY_HOP`)
    runs on the local square graph too, with its halo rows refreshed from their owners before every hop after the
    first (an exact exchange per hop, forward and backward, its bytes counted as the layer's), and with edges whose
    ``gcn_norm`` is the whole graph's (:meth:`~gnnpart.nn.LocalGraph.degree_completed_edges`; ChebConv: the
    Laplacian of the whole graph's out-degrees, :meth:`~gnnpart.nn.LocalGraph.out_degree`). Convs whose math needs
    what no part holds are refused, each with its reason and an alternative (:data:`REFUSED`).

    Per-node inputs besides ``x`` (``GCN2Conv``'s and ``FAConv``'s ``x_0``, the point convs' ``pos`` and
    ``normal``, ``HEATConv``'s ``node_type``) are named in ``node_inputs`` and passed as keywords with one row per
    inner node, ``layer(x, graph, x_0=x_0)``. Their halo rows come from their owners by an exact exchange (counted
    as the layer's), except where the conv reads them only at its targets (``x_0``: the halo rows are zeros).
    Per-edge inputs are passed as keywords in the order of ``graph.edge_index``, for example a column of
    ``graph.edge_attr``. On a typed graph, ``edge_type=True`` passes ``edge_type=graph.edge_type`` (each edge's
    relation) to a relational conv: ``RGCNConv`` and ``FastRGCNConv`` (in pair form) and ``RGATConv`` (square).

    Edge features: with ``edge_attr=True`` the wrapper passes ``edge_attr=graph.edge_attr`` (the partition's
    ``[E, D]`` edge features, in the order of ``graph.edge_index``, cast to the input's dtype) to the conv, as
    ``GINEConv``, ``TransformerConv(edge_dim=D)``, ``GATConv(edge_dim=D)`` or ``GENConv`` take it. An edge's
    features live with its target's part, so they are never exchanged.

    A conv's own random draws (attention or edge dropout) differ by part; the convs whose math HaloConv changes
    (normalised, square or hop by hop) refuse them, and ``GATConv``-like convs keep them (they are exact with
    ``dropout=0``; use :class:`~gnnpart.nn.HashDropout` on rows for dropout that is the same on any number of ranks).

    Args:
        conv (torch_geometric.nn.MessagePassing): the layer.
        exchange_width (int, optional): width of the exchanged rows (default: the conv's ``in_channels`` or
            ``channels``, its source side if a tuple).
        edge_attr (bool): pass the graph's edge features to the conv (default False).
        edge_type (bool): pass the typed graph's edge relations to the conv as ``edge_type`` (default False).
        node_inputs (tuple[str], optional): names of the per-node inputs the conv takes besides ``x`` (default
            none).

    Shapes:
        ``[I, F_in]`` -> ``[I, F_out]``; it exchanges ``[I, F_in]`` -> ``[L, F_in]``.
    """

    def __init__(self, conv: nn.Module, exchange_width: int | None = None, edge_attr: bool = False,
                 node_inputs: tuple = (), edge_type: bool = False):
        super().__init__()
        from torch_geometric.nn import GCNConv, MessagePassing

        name = type(conv).__name__
        if name in REFUSED:  # first: some (CuGraph*, HeteroConv) are not MessagePassing layers
            raise ValueError(f"HaloConv({name}): {name} {REFUSED[name]}")
        if not isinstance(conv, MessagePassing) and name != "AntiSymmetricConv":  # a Module around a GCNConv
            raise TypeError(f"`conv` must be a torch_geometric MessagePassing layer (got {name})")
        self.conv = conv
        self._name = name
        self._weights = name in NORM_BY_WEIGHTS
        self._pair = takes_pair(conv)
        self._hops = HOP_BY_HOP.get(name)
        if name == "AntiSymmetricConv" and not isinstance(conv.phi, GCNConv):
            raise ValueError(f"HaloConv(AntiSymmetricConv): its phi runs once per iteration, and HaloConv makes that "
                             f"exact for a GCNConv phi (the default); got {type(conv.phi).__name__}")
        changed = self._hops is not None or self._weights or not self._pair or name in ("EGConv", "PDNConv")
        if changed and getattr(conv, "dropout", 0):
            raise ValueError(f"HaloConv({name}): its dropout draws at random on each rank; set dropout=0 (and use "
                             "gnnpart.nn.HashDropout on rows, which is the same on any number of ranks)")
        if edge_attr and isinstance(conv, GCNConv):
            raise ValueError("GCNConv takes edge weights, not edge features: leave `edge_attr` False (HaloConv passes "
                             "GCNConv the whole graph's normalisation)")
        if name == "PDNConv" and not edge_attr:
            raise ValueError("HaloConv(PDNConv) weighs each edge from its features: pass edge_attr=True (and partition "
                             "a graph with edge features)")
        self.edge_attr = bool(edge_attr)
        self.edge_type = bool(edge_type)
        self._positional, self._keyword = _split_node_inputs(conv, tuple(node_inputs))
        self.node_inputs = self._positional + self._keyword
        width = exchange_width if exchange_width is not None else getattr(conv, "in_channels",
                                                                          getattr(conv, "channels", None))
        width = width[0] if isinstance(width, (tuple, list)) else width
        self._exchange_width = width

    def reset_parameters(self) -> None:
        """The wrapped conv's ``reset_parameters``."""
        self.conv.reset_parameters()

    @property
    def exchange_width(self) -> int:
        """Width of the exchanged rows (the conv's input width)."""
        if not isinstance(self._exchange_width, int) or self._exchange_width < 1:
            raise ValueError(f"HaloConv({self._name}) does not know its input width "
                             f"(in_channels={self._exchange_width}): pass `exchange_width`")
        return self._exchange_width

    @property
    def runs_on_blocks(self) -> bool:
        """Whether the conv runs on sampled blocks: in its pair form, without per-node inputs or edge relations
        (see :attr:`blocks_refusal`)."""
        return self.blocks_refusal is None

    @property
    def blocks_refusal(self) -> str | None:
        """Why the conv cannot run on sampled blocks (None when it can)."""
        if self.form != "pair":
            return (f"HaloConv({self._name}) runs in the {self.form!r} form, which needs each node's whole "
                    "neighbourhood (its edges or the whole graph's degrees), and a sampled batch holds a few in-edges "
                    "per target: use a conv with a pair form (SAGEConv, GATConv, GATv2Conv, GINConv, ...), or train "
                    "full-graph")
        if self.node_inputs:
            return (f"HaloConv({self._name}) takes per-node inputs ({', '.join(self.node_inputs)}) by inner node, "
                    "and a sampled batch's rows are its sources")
        if self.edge_type:
            return "typed graphs train full-graph"
        return None

    @property
    def form(self) -> str:
        """How the conv runs on a part: ``"pair"``, ``"square"`` (the local square graph, inner rows kept),
        ``"square, whole-graph degrees"`` (given the whole graph's normalisation) or ``"hop by hop"``."""
        if self._hops is not None:
            return "hop by hop"
        conv = self.conv
        if ((self._weights or self._name == "PDNConv") and conv.normalize) or (
                self._name == "EGConv" and "symnorm" in conv.aggregators):
            return "square, whole-graph degrees"
        return "pair" if self._pair else "square"

    def forward(self, x: torch.Tensor, graph, *args, **kwargs) -> torch.Tensor:
        """Exchange, then run the conv for the inner nodes.

        Args:
            x (torch.Tensor): ``[I, F_in]`` this rank's rows (``[I, layers, C]`` for ``DNAConv``).
            graph (LocalGraph): this rank's graph.
            *args, **kwargs: passed on to the conv after ``edge_index``; the ``node_inputs`` by name, ``[I, ...]``.
        """
        if getattr(graph, "sampled", False) and self.blocks_refusal is not None:
            raise ValueError(self.blocks_refusal)
        inputs = self._take_inputs(kwargs, graph)
        num_inner, conv = graph.num_inner, self.conv
        if x.dim() > 2:  # DNAConv's stack of earlier layers' rows: exchanged as one flat row per node
            x_local = graph.halo(x.reshape(num_inner, -1), self).reshape(graph.num_local, *x.shape[1:])
        else:
            x_local = graph.halo(x, self)
        if self.edge_attr:
            if graph.edge_attr is None:
                raise ValueError(f"HaloConv({self._name}, edge_attr=True) needs edge features, and this partition has "
                                 "none: partition a graph with `edge_attr`")
            kwargs["edge_attr"] = graph.edge_attr.to(x.dtype)
        if self.edge_type:
            if graph.edge_type is None:
                raise ValueError(f"HaloConv({self._name}, edge_type=True) needs a typed graph, and this partition has "
                                 "no edge types: partition a heterogeneous dataset")
            kwargs["edge_type"] = graph.edge_type
        if self._hops is not None:
            return self._hop_by_hop(x_local, graph, *args, **kwargs)
        if self._weights and conv.normalize:
            edge_index, weight = graph.gcn_norm(getattr(conv, "improved", False), conv.add_self_loops)
            with replaced(conv, "normalize", False):
                return self._call(x_local, x, graph, inputs, edge_index, weight.to(x.dtype), *args, square=True,
                                  **kwargs)[:num_inner]
        if self._name == "FAConv" and not args and "edge_weight" not in kwargs:  # it needs weights when unnormalised
            kwargs["edge_weight"] = torch.ones(graph.edge_index.shape[1], dtype=x.dtype, device=x.device)
        if self._name == "EGConv" and "symnorm" in conv.aggregators:
            edge_index, weight = graph.gcn_norm(False, conv.add_self_loops)
            with replaced(conv, "_cached_edge_index", (edge_index, weight.to(x.dtype))):
                return conv(x_local, graph.edge_index, *args, **kwargs)[:num_inner]
        if self._name == "EGConv" and conv.add_self_loops:  # its own loops skip an isolated node numbered last
            return conv(x_local, graph.gcn_norm(False, True)[0], *args, **kwargs)[:num_inner]
        if self._name == "PDNConv" and conv.normalize:
            edge_index, weight = learned_degree_edges(conv, graph, self, x.dtype)
            kwargs["edge_attr"] = weight.new_zeros(weight.shape[0], 1)
            with replaced(conv, "mlp", Fixed(weight.unsqueeze(-1))):
                return conv(x_local, edge_index, *args, **kwargs)[:num_inner]
        square = self._weights or not self._pair
        out = self._call(x_local, x, graph, inputs, graph.edge_index, *args, square=square, **kwargs)
        return out[:num_inner] if square else out

    def _take_inputs(self, kwargs: dict, graph) -> dict:
        """Pop the node inputs from ``kwargs``, each checked to be one row per inner node."""
        inputs = {}
        for name in self.node_inputs:
            value = kwargs.pop(name, None)
            if not isinstance(value, torch.Tensor) or value.dim() < 1 or value.shape[0] != graph.num_inner:
                got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"HaloConv({self._name}) takes `{name}` as one row per inner node "
                                 f"([{graph.num_inner}, ...]) at each call, layer(x, graph, {name}=...) (got {got})")
            inputs[name] = value
        return inputs

    def _input_form(self, name: str, value: torch.Tensor, graph, square: bool):
        """A node input as the conv takes it: ``[L, ...]`` rows (halo rows exchanged, or zeros where the conv reads
        the input only at its targets) on the square graph, else a ``(local, inner)`` pair."""
        if name in TARGET_ONLY_INPUTS.get(self._name, ()):
            local = torch.cat([value, value.new_zeros(graph.num_local - graph.num_inner, *value.shape[1:])])
        else:
            local = graph.halo_exact(value, self)
        return local if square else (local, value)

    def _call(self, x_local, x, graph, inputs: dict, edge_index, *args, square: bool, **kwargs):
        positional = [self._input_form(n, inputs[n], graph, square) for n in self._positional]
        kwargs.update({n: self._input_form(n, inputs[n], graph, square) for n in self._keyword})
        return self.conv(x_local if square else (x_local, graph.targets(x)), *positional, edge_index, *args,
                         **kwargs)

    def _hop_by_hop(self, x_local: torch.Tensor, graph, *args, **kwargs) -> torch.Tensor:
        """A multi-hop conv on the local square graph, the halo rows refreshed from their owners before every hop
        after the first (one exact exchange per hop, forward and backward, counted as the layer's), with the whole
        graph's normalisation."""
        name, conv = self._name, self.conv
        policy = graph.policies.get(self.layer_id)
        gated = graph.gates is not None and graph.gates.has(self.layer_id)
        if (policy is not None and not policy.is_exact) or gated:
            raise ValueError(f"HaloConv({name}) exchanges once per hop, which only the exact halo exchange does: give "
                             f"its layer ({self.layer_id}) the exact policy (--halo ...,exact,...)")
        if args or "edge_weight" in kwargs:
            raise ValueError(f"HaloConv({name}) gives the conv the whole graph's edge weights itself: pass no "
                             "edge_weight")
        if kwargs.get("batch") is not None:
            raise ValueError(f"HaloConv({name}) runs on one graph: pass no `batch`")
        norm = self._hops(conv)
        patches = []
        if norm == "laplacian":
            edges = chebyshev_norm(conv, graph, x_local.dtype, kwargs.pop("lambda_max", None))
            patches.append(replaced(conv, "__norm__", lambda *_, **__: edges))
            call = (graph.edge_index,)
        elif norm is None:
            call = (graph.edge_index,)
        else:
            edge_index, weight = graph.degree_completed_edges(*norm)
            call = (edge_index, weight.to(x_local.dtype))
        hopper = conv.phi if name == "AntiSymmetricConv" else conv
        propagate, node_dim, calls = hopper.propagate, hopper.node_dim, []
        num_inner, num_local = graph.num_inner, graph.num_local

        def refreshed(edge_index, size=None, **inputs):
            x = inputs.get("x")
            if calls and isinstance(x, torch.Tensor) and x.dim() >= 2 and x.shape[node_dim] == num_local:
                rows = x.movedim(node_dim, 0)
                inputs["x"] = graph.halo_exact(rows[:num_inner], self).movedim(0, node_dim)
            calls.append(1)
            return propagate(edge_index, size=size, **inputs)

        with ExitStack() as stack:
            stack.enter_context(replaced(hopper, "propagate", refreshed))
            for patch in patches:
                stack.enter_context(patch)
            out = conv(x_local, *call, **kwargs)
        return out[:num_inner]


def _split_node_inputs(conv, names: tuple) -> tuple[tuple, tuple]:
    """``names`` checked against the conv's ``forward``: those before ``edge_index`` (taken by position), then the
    rest (by keyword). A conv that takes per-node inputs before ``edge_index`` must have them all named."""
    conv_name = type(conv).__name__
    params = list(inspect.signature(conv.forward).parameters)
    before = params[1:params.index("edge_index")] if "edge_index" in params else []
    unknown = [n for n in names if n not in params[1:] or n == "edge_index"]
    if unknown:
        raise ValueError(f"HaloConv({conv_name}): `node_inputs` names {unknown[0]!r}, which {conv_name}.forward "
                         f"does not take (it takes {', '.join(params)})")
    if set(before) - set(names):
        missing = ", ".join(repr(n) for n in before)
        raise ValueError(f"HaloConv({conv_name}): {conv_name} takes {missing} besides x, one row per node: pass "
                         f"node_inputs=({missing},) and give them at each call, layer(x, graph, {before[0]}=...)")
    positional = tuple(n for n in before if n in names)
    return positional, tuple(n for n in names if n not in before)
