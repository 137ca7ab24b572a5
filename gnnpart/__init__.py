"""gnnpart: full-graph distributed GNN training on partitioned graphs.

Data flows one way: raw files -> :class:`gnnpart.data.Graph` ->
:func:`gnnpart.partition_graph` -> a partition directory on disk ->
:func:`gnnpart.load_partition` on each rank.
"""
from gnnpart.capabilities import load_extension as _load_extension

_load_extension()  # raises ImportError with build instructions if gnnpart._C is missing

from gnnpart.data import Graph, load  # noqa: E402
from gnnpart.partition import Partition, load_partition, partition_graph, read_meta  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Graph", "load", "Partition", "load_partition", "partition_graph", "read_meta", "__version__"]
