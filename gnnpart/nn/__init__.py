"""Distributed GNN layers and models over one rank's LocalGraph.

The layer contract (:mod:`gnnpart.nn.contract`): layers that exchange halo rows are :class:`HaloLayer`s. Built-in
layers (``Dist*Conv``) and :class:`HaloConv` (any PyG conv) follow it; models (PyG's ``BasicGNN`` signature) are
stacks of them. Names are imported on first use (:mod:`gnnpart.lazy`).
"""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "HaloLayer": "gnnpart.nn.contract",
    "halo_layers": "gnnpart.nn.contract",
    "HashDropout": "gnnpart.nn.dropout",
    "HaloGates": "gnnpart.nn.gates",
    "attach_halo_gates": "gnnpart.nn.gates",
    "attached_halo_gates": "gnnpart.nn.gates",
    "HaloConv": "gnnpart.nn.halo_conv",
    "DistGCNConv": "gnnpart.nn.layers",
    "DistSAGEConv": "gnnpart.nn.layers",
    "DistGATConv": "gnnpart.nn.layers",
    "DistGINConv": "gnnpart.nn.layers",
    "LocalGraph": "gnnpart.nn.local_graph",
    "BasicGNN": "gnnpart.nn.models",
    "GCN": "gnnpart.nn.models",
    "GraphSAGE": "gnnpart.nn.models",
    "GAT": "gnnpart.nn.models",
    "GIN": "gnnpart.nn.models",
    "GINE": "gnnpart.nn.models",
    "build_model": "gnnpart.nn.models",
    "MODELS": "gnnpart.nn.names",
    "SyncBatchNorm": "gnnpart.nn.norm",
    "convert_sync_norm": "gnnpart.nn.row_norms",
    "check_row_norms": "gnnpart.nn.row_norms",
})
__all__ = ["HaloLayer", "halo_layers", "HashDropout", "HaloGates", "attach_halo_gates", "attached_halo_gates",
           "HaloConv", "LocalGraph", "DistGCNConv", "DistSAGEConv", "DistGATConv", "DistGINConv", "BasicGNN", "GCN",
           "GraphSAGE", "GAT", "GIN", "GINE", "build_model", "MODELS", "SyncBatchNorm",
           "convert_sync_norm", "check_row_norms"]
