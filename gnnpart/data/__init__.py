"""Graphs in memory and the loaders that build them (``raw files -> Graph``); names imported on first use."""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Graph": "gnnpart.data.graph",
    "load": "gnnpart.data.loading",
    "DATASETS": "gnnpart.data.loading",
    "from_pyg": "gnnpart.data.pyg",
})
__all__ = ["Graph", "load", "from_pyg", "DATASETS"]
