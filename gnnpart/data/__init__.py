"""Graphs in memory and the loaders that build them (``raw files -> Graph``)."""
from gnnpart.data.graph import Graph
from gnnpart.data.load import DATASETS, load
from gnnpart.data.pyg import from_pyg

__all__ = ["Graph", "load", "from_pyg", "DATASETS"]
