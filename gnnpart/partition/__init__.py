"""Partitioning a Graph and the partition directory (``Graph -> parts on disk -> one part per rank``); names
imported on first use."""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "partition_graph": "gnnpart.partition.partitioner",
    "load_partition": "gnnpart.partition.store",
    "read_meta": "gnnpart.partition.store",
    "Partition": "gnnpart.partition.store",
})
__all__ = ["partition_graph", "load_partition", "read_meta", "Partition"]
