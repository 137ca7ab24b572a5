"""Distributed GNN layers and models over one rank's LocalGraph.

The layer contract (:mod:`gnnpart.nn.contract`): layers that exchange halo rows are :class:`HaloLayer`s. Built-in
layers (``Dist*Conv``) and :class:`HaloConv` (any PyG conv) follow it; models (PyG's ``BasicGNN`` signature) are
stacks of them.
"""
from gnnpart.nn.contract import HaloLayer, halo_layers
from gnnpart.nn.dropout import HashDropout
from gnnpart.nn.gates import HaloGates, attach_halo_gates, attached_halo_gates
from gnnpart.nn.halo_conv import HaloConv
from gnnpart.nn.layers import DistGATConv, DistGCNConv, DistGINConv, DistSAGEConv
from gnnpart.nn.local_graph import LocalGraph
from gnnpart.nn.models import GAT, GCN, GIN, GINE, MODELS, BasicGNN, GraphSAGE, build_model
from gnnpart.nn.norm import SyncBatchNorm

__all__ = ["HaloLayer", "halo_layers", "HashDropout", "HaloGates", "attach_halo_gates", "attached_halo_gates", "HaloConv", "LocalGraph",
           "DistGCNConv", "DistSAGEConv", "DistGATConv", "DistGINConv", "BasicGNN", "GCN", "GraphSAGE", "GAT", "GIN", "GINE",
           "build_model", "MODELS", "SyncBatchNorm"]
