"""Distributed GNN layers and models over one rank's LocalGraph."""
from gnnpart.nn.layers import DistGATConv, DistGCNConv, DistGINConv, DistSAGEConv
from gnnpart.nn.local_graph import LocalGraph
from gnnpart.nn.models import GAT, GCN, GIN, MODELS, DistModel, GraphSAGE, build_model

__all__ = ["LocalGraph", "DistGCNConv", "DistSAGEConv", "DistGATConv", "DistGINConv",
           "GCN", "GraphSAGE", "GAT", "GIN", "DistModel", "build_model", "MODELS"]
