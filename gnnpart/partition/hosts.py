"""What crosses the network, estimated from a partition without running it: with ``R`` consecutive parts on each
host (as ``mpiexec`` and ``srun`` place ranks by default: rank ``i`` runs part ``i``), the halo rows that go between
hosts, and how many they would be if each boundary row crossed once per destination host instead of once per rank
(what a node-aware exchange sends)."""
from __future__ import annotations

import numpy as np


def host_of_parts(num_parts: int, ranks_per_host: int) -> np.ndarray:
    """int64 ``[P]``: the host of each part, ``ranks_per_host`` consecutive parts a host."""
    if isinstance(ranks_per_host, bool) or not isinstance(ranks_per_host, int) or ranks_per_host < 1:
        raise ValueError(f"`ranks_per_host` must be an integer >= 1 (got {ranks_per_host!r})")
    return np.arange(num_parts, dtype=np.int64) // ranks_per_host


def host_traffic(path, ranks_per_host: int, progress=None) -> dict:
    """The halo rows of one exact exchange of a layer, split by where they go, for ``ranks_per_host`` consecutive parts
    on each host.

    Args:
        path: a partition directory.
        ranks_per_host (int): parts (ranks) on each host.
        progress (callable, optional): called with ``(part, num_parts)`` before each part is read.

    Returns:
        ``{"ranks_per_host", "hosts", "rows", "rows_internode", "rows_internode_once"}``: every halo row a rank
        sends; those that go to a rank on another host; and those counted once per (row, destination host).
    """
    from gnnpart.partition.store import load_partition, read_meta

    num_parts = read_meta(path)["num_parts"]
    host = host_of_parts(num_parts, ranks_per_host)
    rows = internode = once = 0
    for p in range(num_parts):
        if progress is not None:
            progress(p, num_parts)
        part = load_partition(path, p, verify=False, mmap=True)
        by_host: dict[int, list] = {}
        for peer, local in part.send.items():
            rows += len(local)
            if host[peer] != host[p]:
                internode += len(local)
                by_host.setdefault(int(host[peer]), []).append(np.asarray(local))
        once += sum(len(np.unique(np.concatenate(lists))) for lists in by_host.values())
    return {"ranks_per_host": int(ranks_per_host), "hosts": int(host[-1] + 1) if num_parts else 0, "rows": int(rows),
            "rows_internode": int(internode), "rows_internode_once": int(once)}
