"""Partitioning a Graph and the partition directory (``Graph -> parts on disk -> one part per rank``)."""
from gnnpart.partition.pipeline import partition_graph
from gnnpart.partition.store import Partition, load_partition, read_meta

__all__ = ["partition_graph", "load_partition", "read_meta", "Partition"]
