"""Every rank's output rows, put in global node order on rank 0 (the workers' forward passes)."""
import numpy as np


def global_rows(comm, ids, rows: np.ndarray, num_nodes: int):
    """``[N, C]`` on rank 0, row ``i`` from the rank that owns node ``i`` (None on the other ranks).

    Args:
        comm (gnnpart.comm.Communicator): the job's communicator.
        ids (array): ``[I]`` global ids of this rank's rows.
        rows (np.ndarray): ``[I, C]`` this rank's rows.
        num_nodes (int): ``N``.
    """
    gathered = comm.comm.gather((np.asarray(ids), rows), root=0)
    if comm.rank != 0:
        return None
    full = np.zeros((num_nodes, rows.shape[1]))
    for gids, part in gathered:
        full[gids] = part
    return full
