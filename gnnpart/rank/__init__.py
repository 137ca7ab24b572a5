"""What one MPI rank holds for its part of a partition: :class:`Rank` (``Rank.open(part_dir, comm)``), and where it
computes, :class:`Placement`. Between ``nn`` (layers over a local graph) and ``train`` / ``infer``, which take a
rank instead of rebuilding one. Names are imported on first use (:mod:`gnnpart.lazy`)."""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Rank": "gnnpart.rank.assemble",
    "Placement": "gnnpart.rank.device",
    "DEVICES": "gnnpart.rank.device",
})
__all__ = ["Rank", "Placement", "DEVICES"]
