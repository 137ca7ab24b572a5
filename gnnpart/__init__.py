"""gnnpart: full-graph distributed GNN training on partitioned graphs.

Data flows one way: raw files -> :class:`gnnpart.data.Graph` -> :func:`gnnpart.partition_graph` -> a partition
directory on disk -> :class:`gnnpart.rank.Rank` on each MPI rank (its part, exchange plan and local graph) ->
:class:`gnnpart.train.Trainer` or :mod:`gnnpart.infer`.

Importing the package costs nothing: the names below are imported on first use (:mod:`gnnpart.lazy`), so the
command line's parser and the launcher of ``gnnpart train -n N`` start without torch. A module that needs the compiled extension
``gnnpart._C`` loads it when it is imported, and raises an ``ImportError`` that says how to build it when it was
not built (:func:`gnnpart.capabilities.load_extension`).
"""
from gnnpart.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(__name__, {
    "Graph": "gnnpart.data.graph",
    "load": "gnnpart.data.loading",
    "Partition": "gnnpart.partition.store",
    "load_partition": "gnnpart.partition.store",
    "read_meta": "gnnpart.partition.store",
    "partition_graph": "gnnpart.partition.partitioner",
    "Rank": "gnnpart.rank.assemble",
})
__all__ = ["Graph", "load", "Partition", "load_partition", "partition_graph", "read_meta", "Rank", "__version__"]
