"""Distributed models with PyG's ``BasicGNN`` signature: GCN, GraphSAGE, GAT and GIN over a :class:`LocalGraph`.

Every model takes ``(in_channels, hidden_channels, num_layers, out_channels=None, dropout=0.0, act="relu",
norm=None, jk=None, residual=False, input_dropout=0.0, ...)`` as PyG's models do, builds its layers with
:meth:`BasicGNN.init_conv` (override it to use other layers), and maps this rank's inner features ``[I, F]`` to
``[I, C]``. Dropout masks are keyed by global node id (:class:`~gnnpart.nn.HashDropout`), so N ranks compute what
one process computes.
"""
from __future__ import annotations

import torch
from torch import nn

from gnnpart.nn.contract import HaloLayer
from gnnpart.nn.dropout import HashDropout
from gnnpart.nn.gates import HaloGates
from gnnpart.nn.layers import DistGATConv, DistGCNConv, DistGINConv, DistSAGEConv
from gnnpart.nn.local_graph import LocalGraph
from gnnpart.nn.names import JK_MODES, MODELS, NORMS
from gnnpart.nn.norm import SyncBatchNorm



def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer (got {value!r})")
    return value


def _normalize(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def resolve_activation(act):
    """The activation module for ``act``, as PyG's ``activation_resolver`` gives it.

    A name matches a class of ``torch.nn`` activations, case and ``_``/``-`` ignored (``"relu"``,
    ``"leaky_relu"``, ``"ELU"``); PyG is asked only for names torch lacks (``"swish"``), since importing it costs
    about 2 s in every rank. A module or callable is returned as it is, None stays None.

    Args:
        act (str | callable | None): the activation.
    """
    if not isinstance(act, str):
        return act
    query = _normalize(act)
    for cls in vars(nn.modules.activation).values():
        if isinstance(cls, type) and issubclass(cls, nn.Module) and query in (
                _normalize(cls.__name__), _normalize(cls.__name__).replace("act", "")):
            return cls()
    from torch_geometric.nn.resolver import activation_resolver

    return activation_resolver(act)


class _Norm(nn.Module):
    """A per-layer normalisation that takes ``(h, graph)``: synchronised batch norm, or layer norm (per row)."""

    def __init__(self, kind: str, channels: int):
        super().__init__()
        self.inner = SyncBatchNorm(channels) if kind == "batch" else nn.LayerNorm(channels)
        self.kind = kind

    def reset_parameters(self) -> None:
        self.inner.reset_parameters()

    def forward(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        return self.inner(h, graph) if self.kind == "batch" else self.inner(h)


class BasicGNN(nn.Module):
    r"""A stack of halo layers with PyG's ``BasicGNN`` structure, distributed.

    .. math::
        \mathbf{H}^{(0)} = \mathrm{drop}_0(\mathbf{X}), \qquad
        \mathbf{H}^{(\ell+1)} = \mathrm{drop}_{\ell+1}\Big(\sigma\big(\mathrm{norm}(\mathrm{conv}_\ell(\mathbf{H}^{(\ell)})
        [+\,\mathbf{H}^{(\ell)}])\big)\Big)

    for every layer but the last (and for the last too with ``jk``, whose result then goes through
    ``JumpingKnowledge`` and a final linear map to ``out_channels``), as in PyG.

    Args:
        in_channels (int): input width ``F``.
        hidden_channels (int): width of the hidden layers.
        num_layers (int): number of halo layers.
        out_channels (int, optional): output width ``C`` (default ``hidden_channels``).
        dropout (float): dropout after each hidden layer (default 0).
        act (str | callable, optional): activation, resolved as PyG does (default ``"relu"``).
        norm (str, optional): ``"batch"`` (synchronised over the ranks, :class:`~gnnpart.nn.SyncBatchNorm`),
            ``"layer"`` (per row), or None.
        jk (str, optional): ``"last"``, ``"cat"`` or ``"max"`` (PyG's ``JumpingKnowledge``), or None.
        residual (bool): add each layer's input to its output where their widths are equal (default False).
        input_dropout (float): dropout on the input features (default 0). Without it, a first layer that
            aggregates before it transforms computes its aggregation once.
        **kwargs: passed to :meth:`init_conv` (after ``last``).

    Shapes:
        ``[I, F]`` -> ``[I, C]`` (``I`` inner nodes of this rank; layers exchange ``[I, *]`` -> ``[L, *]``).
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int | None = None,
                 dropout: float = 0.0, act="relu", norm: str | None = None, jk: str | None = None,
                 residual: bool = False, input_dropout: float = 0.0, **kwargs):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels),
                            ("num_layers", num_layers)):
            _positive(name, value)
        if out_channels is not None:
            _positive("out_channels", out_channels)
        for name, value in (("dropout", dropout), ("input_dropout", input_dropout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1) (got {value!r})")
        if norm is not None and norm not in NORMS:
            raise ValueError(f"`norm` must be one of {', '.join(NORMS)} or None (got {norm!r})")
        if jk is not None and jk not in JK_MODES:
            raise ValueError(f"`jk` must be one of {', '.join(JK_MODES)} or None (got {jk!r})")
        self.in_channels, self.hidden_channels, self.num_layers = in_channels, hidden_channels, num_layers
        self.out_channels = hidden_channels if out_channels is None else out_channels
        self.jk_mode, self.residual = jk, bool(residual)
        self.input_drop = HashDropout(input_dropout)
        self.drop = HashDropout(dropout)
        self.act = resolve_activation(act)
        widths = [in_channels] + [hidden_channels] * (num_layers - 1)
        last = out_channels if (out_channels is not None and jk is None) else hidden_channels
        outs = [hidden_channels] * (num_layers - 1) + [last]
        self._to_out = out_channels is not None and jk is None
        convs = [self.init_conv(a, b, last=i == num_layers - 1, **kwargs) for i, (a, b) in enumerate(zip(widths, outs))]
        for conv in convs:
            if not isinstance(conv, HaloLayer):
                raise TypeError(f"init_conv must return a gnnpart.nn.HaloLayer (got {type(conv).__name__}); wrap a PyG "
                                "conv in gnnpart.nn.HaloConv")
        self.convs = nn.ModuleList(convs)
        self.convs[0].constant_input = input_dropout == 0.0
        normed = num_layers if jk is not None else num_layers - 1
        self.norms = nn.ModuleList(_Norm(norm, hidden_channels) for _ in range(normed)) if norm else None
        if jk is not None:
            if jk != "last":
                from torch_geometric.nn import JumpingKnowledge  # here: importing PyG costs ~2 s a process

            self.jk = JumpingKnowledge(jk, hidden_channels, num_layers) if jk != "last" else None
            self.lin = nn.Linear(num_layers * hidden_channels if jk == "cat" else hidden_channels, self.out_channels)

    def init_conv(self, in_channels: int, out_channels: int, last: bool = False, **kwargs) -> HaloLayer:
        """The layer from ``in_channels`` to ``out_channels`` (override it).

        Args:
            in_channels (int), out_channels (int): the layer's widths.
            last (bool): whether it is the model's last layer (the one that maps to ``out_channels`` when the
                model has no ``jk``; see :attr:`maps_to_out`).
            **kwargs: the model's extra keyword arguments.
        """
        raise NotImplementedError

    @property
    def maps_to_out(self) -> bool:
        """Whether the last layer maps to ``out_channels`` itself (no ``jk`` map after it)."""
        return self._to_out

    def reset_parameters(self) -> None:
        """Re-initialise every layer, norm and the jumping-knowledge map (as PyG's ``BasicGNN``)."""
        for conv in self.convs:
            conv.reset_parameters()
        for norm in self.norms or []:
            norm.reset_parameters()
        if self.jk_mode is not None:
            if self.jk is not None:
                self.jk.reset_parameters()
            self.lin.reset_parameters()
        for module in self.modules():  # learned halo gates (attach_halo_gates) are part of the model
            if isinstance(module, HaloGates):
                module.reset_parameters()

    def forward(self, x: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        """Map this rank's features ``x`` (``[I, F]``) to ``[I, C]``.

        Args:
            x (torch.Tensor): ``[I, F]``.
            graph (LocalGraph): this rank's graph.
        """
        return self._run(x, graph, None)

    def embed(self, x: torch.Tensor, graph: LocalGraph, layer: int) -> torch.Tensor:
        """The representation after layer ``layer`` (``0 .. num_layers - 1``): its conv, then the norm and the
        activation that follow it (dropout too in training mode); after the last layer without ``jk``, the output.

        Args:
            x (torch.Tensor): ``[I, F]``.
            graph (LocalGraph): this rank's graph.
            layer (int): which layer.

        Shapes:
            ``[I, F]`` -> ``[I, hidden_channels]`` (``[I, C]`` after the last layer without ``jk``).
        """
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < self.num_layers:
            raise ValueError(f"`layer` must be in [0, {self.num_layers}) (got {layer!r})")
        return self._run(x, graph, layer)

    def _run(self, x: torch.Tensor, graph: LocalGraph, stop_after: int | None) -> torch.Tensor:
        h = self.input_drop(x, graph, stream=0)
        xs = []
        for i, conv in enumerate(self.convs):
            out = conv(h, graph)
            if self.residual and out.shape[1:] == h.shape[1:]:
                out = out + h[: out.shape[0]]  # a layer's targets are its first rows (on a sampled block too)
            h = out
            if i < self.num_layers - 1 or self.jk_mode is not None:
                if self.norms is not None:
                    h = self.norms[i](h, graph)
                if isinstance(self.act, nn.ReLU):  # ReLU and dropout in one pass
                    h = self.drop.after_relu(h, graph, stream=i + 1)
                else:
                    h = h if self.act is None else self.act(h)
                    h = self.drop(h, graph, stream=i + 1)
            if i == stop_after:
                return h
            xs.append(h)
        if self.jk_mode is None:
            return h
        h = xs[-1] if self.jk is None else self.jk(xs)
        return self.lin(h)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_channels}, num_layers={self.num_layers}, out={self.out_channels}"


class GCN(BasicGNN):
    r"""GCN (Kipf and Welling) with :class:`~gnnpart.nn.DistGCNConv` layers (global degrees, a self loop per node).

    .. math::
        \mathbf{X}' = \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2} \mathbf{X} \mathbf{W}

    Args: as :class:`BasicGNN` (``bias`` goes to the layers).

    Shapes:
        ``[I, F]`` -> ``[I, C]``; each layer exchanges the narrower of its widths, ``[I, *]`` -> ``[L, *]``.
    """

    def init_conv(self, in_channels, out_channels, last=False, **kwargs):
        return DistGCNConv(in_channels, out_channels, **kwargs)


class GraphSAGE(BasicGNN):
    r"""GraphSAGE with mean aggregation and a root weight (:class:`~gnnpart.nn.DistSAGEConv`).

    .. math::
        \mathbf{x}'_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2 \cdot \mathrm{mean}_{j \in \mathcal{N}(i)} \mathbf{x}_j

    Args: as :class:`BasicGNN`.

    Shapes:
        ``[I, F]`` -> ``[I, C]``; each layer exchanges the narrower of its widths, ``[I, *]`` -> ``[L, *]``.
    """

    def init_conv(self, in_channels, out_channels, last=False, **kwargs):
        return DistSAGEConv(in_channels, out_channels, **kwargs)


class GIN(BasicGNN):
    r"""GIN with an MLP of two linear maps (:class:`~gnnpart.nn.DistGINConv`, ``eps = 0``).

    .. math::
        \mathbf{x}'_i = \mathrm{MLP}\big((1 + \epsilon) \mathbf{x}_i + \textstyle\sum_{j \in \mathcal{N}(i)} \mathbf{x}_j\big)

    Args: as :class:`BasicGNN`.

    Shapes:
        ``[I, F]`` -> ``[I, C]``; each layer exchanges the narrower of its widths, ``[I, *]`` -> ``[L, *]``.
    """

    def init_conv(self, in_channels, out_channels, last=False, **kwargs):
        return DistGINConv(in_channels, out_channels, **kwargs)


class GINE(BasicGNN):
    r"""GIN with edge features: PyG's ``GINEConv`` (an MLP of two linear maps, ``eps = 0``) through
    :class:`~gnnpart.nn.HaloConv`, reading the partition's edge features.

    .. math::
        \mathbf{x}'_i = \mathrm{MLP}\big((1 + \epsilon) \mathbf{x}_i + \textstyle\mathrm{AGG}_{j \in \mathcal{N}(i)}
        \mathrm{ReLU}(\mathbf{x}_j + \mathbf{W}_e \mathbf{e}_{j,i})\big)

    ``AGG`` is the mean by default (``aggr="add"`` gives GINEConv's sum): the messages are all >= 0, and their
    sum over a node's in-edges grows with its degree; on the synthetic multi-label graph (degree 10, 64
    features, 16 tasks) the sum drove every unit of the output layer's MLP below zero within five Adam steps
    (validation ROC-AUC 0.50 after 30 epochs), where the mean reached 0.61.

    Args: as :class:`BasicGNN`, plus ``edge_dim`` (int): the width ``D`` of the edge features, and ``aggr``
    (str): the aggregation (default ``"mean"``); other keyword arguments go to ``GINEConv``.

    Shapes:
        ``[I, F]`` -> ``[I, C]``; each layer exchanges its input, ``[I, F_in]`` -> ``[L, F_in]``.
    """

    def init_conv(self, in_channels, out_channels, last=False, edge_dim: int = 0, aggr: str = "mean", **kwargs):
        from torch_geometric.nn import GINEConv

        from gnnpart.nn.halo_conv import HaloConv

        if isinstance(edge_dim, bool) or not isinstance(edge_dim, int) or edge_dim < 1:
            raise ValueError(f"`edge_dim` of GINE must be the width of the edge features, >= 1 (got {edge_dim!r}); "
                             "partition a graph with edge features")
        mlp = nn.Sequential(nn.Linear(in_channels, out_channels), nn.ReLU(), nn.Linear(out_channels, out_channels))
        return HaloConv(GINEConv(mlp, edge_dim=edge_dim, aggr=aggr, **kwargs), exchange_width=in_channels,
                        edge_attr=True)


class GAT(BasicGNN):
    r"""GAT with :class:`~gnnpart.nn.DistGATConv` layers, as PyG's ``GAT``: hidden layers have ``heads`` heads of
    ``hidden_channels // heads`` channels, concatenated; the layer that maps to ``out_channels`` averages its heads.

    .. math::
        \mathbf{x}'_i = \big\Vert_{k} \textstyle\sum_{j \in \mathcal{N}(i) \cup \{i\}} \alpha^{k}_{ij} \mathbf{W}^{k} \mathbf{x}_j

    Args: as :class:`BasicGNN`, plus ``heads`` (int, default 1). Attention dropout is not supported.

    Shapes:
        ``[I, F]`` -> ``[I, C]``; each layer exchanges its transformed rows, ``[I, heads * c]`` -> ``[L, heads * c]``.
    """

    def init_conv(self, in_channels, out_channels, last=False, heads: int = 1, **kwargs):
        _positive("heads", heads)
        if last and self.maps_to_out:
            return DistGATConv(in_channels, out_channels, heads=heads, concat=False, **kwargs)
        if out_channels % heads:
            raise ValueError(f"`hidden_channels` ({out_channels}) must be a multiple of `heads` (got heads={heads})")
        return DistGATConv(in_channels, out_channels // heads, heads=heads, **kwargs)


def build_model(name: str, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                dropout: float = 0.5, input_dropout: float = 0.0, heads: int = 8, edge_dim: int = 0, *,
                graph: LocalGraph | None = None, num_bases: int | None = None, seed: int = 0, **kwargs) -> nn.Module:
    """A model by name: ``gcn``, ``sage``, ``gat``, ``gin``, ``gine`` or ``rgcn`` (what ``gnnpart train --model``
    builds).

    Args:
        name (str): the model.
        in_channels (int), hidden_channels (int), out_channels (int), num_layers (int): widths and depth.
        dropout (float), input_dropout (float): as :class:`BasicGNN`.
        heads (int): GAT's heads.
        edge_dim (int): the width of the edge features (GINE needs it; the others ignore it).
        graph (LocalGraph, optional): this rank's typed graph: ``rgcn`` needs it (its types, relations and the rows
            of its featureless nodes' embeddings; ``in_channels`` is then unused).
        num_bases (int, optional): ``rgcn``'s basis decomposition.
        seed (int): ``rgcn``: seed of the embeddings' first values.
        **kwargs: more :class:`BasicGNN` options (``norm``, ``jk``, ``residual``, ``act``; ``rgcn`` takes none).
    """
    if name == "rgcn":
        from gnnpart.nn.rgcn import RGCN

        if graph is None:
            raise ValueError("`model` rgcn needs the rank's typed graph (`graph`)")
        unused = {k: v for k, v in kwargs.items() if v not in (None, False)}
        if unused or input_dropout:
            raise ValueError(f"`model` rgcn takes no {', '.join(sorted(unused) + (['input_dropout'] if input_dropout else []))}")
        return RGCN(graph, hidden_channels, num_layers, out_channels, num_bases=num_bases, dropout=dropout, seed=seed)
    if num_bases is not None:
        raise ValueError(f"`num_bases` applies to model rgcn only (got num_bases={num_bases!r} with model '{name}')")
    classes = {"gcn": GCN, "sage": GraphSAGE, "gat": GAT, "gin": GIN, "gine": GINE}
    if name not in classes:
        raise ValueError(f"`model` must be one of {', '.join(MODELS)} (got '{name}')")
    extra = {"heads": heads} if name == "gat" else {"edge_dim": edge_dim} if name == "gine" else {}
    return classes[name](in_channels, hidden_channels, num_layers, out_channels, dropout=dropout,
                         input_dropout=input_dropout, **extra, **kwargs)
