"""MPI worker: PyG convs that read edge features, through HaloConv(conv, edge_attr=True), evaluated in float64.

Usage: mpiexec -n N python -m mpi4py tests/workers/edge_conv_worker.py PART_DIR OUT.npz
For each conv of EDGE_CONVS, rank 0 saves the initial weights (``NAME/init/KEY``) and the output of every node in
global order (``NAME/forward``).
"""
import sys

import numpy as np
import torch
from torch import nn
from torch_geometric import nn as pyg

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.infer import predict
from gnnpart.nn import HaloConv
from gnnpart.rank import Rank
from tests.workers.global_rows import global_rows

HIDDEN = 8


def _gine(a, b, d):
    return pyg.GINEConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b)), edge_dim=d)


EDGE_CONVS = {
    "GINEConv": _gine,
    "TransformerConv": lambda a, b, d: pyg.TransformerConv(a, b, heads=2, concat=False, edge_dim=d),
    "GATConv": lambda a, b, d: pyg.GATConv(a, b, heads=2, concat=False, edge_dim=d),
}


class TwoEdgeLayers(nn.Module):
    def __init__(self, name, a, c, d, wrap=True):
        super().__init__()
        convs = [EDGE_CONVS[name](a, HIDDEN, d), EDGE_CONVS[name](HIDDEN, c, d)]
        self.conv1, self.conv2 = (HaloConv(conv, exchange_width=w, edge_attr=True) if wrap else conv
                                  for conv, w in zip(convs, (a, HIDDEN)))

    def forward(self, x, graph, edge_attr=None):
        if edge_attr is None:  # distributed: the wrapper passes graph.edge_attr
            return self.conv2(torch.relu(self.conv1(x, graph)), graph)
        return self.conv2(torch.relu(self.conv1(x, graph, edge_attr=edge_attr)), graph, edge_attr=edge_attr)


def main(part_dir, out, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, dtype=torch.float64, task="regression")
    ids = rank.inner_ids
    results = {}
    for name in EDGE_CONVS:
        torch.manual_seed(0)
        model = TwoEdgeLayers(name, meta["num_features"], meta["num_outputs"], meta["num_edge_features"])
        model.double()  # no training: the model runs on the rank as it is (inference needs no Trainer)
        for key, value in model.state_dict().items():
            results[f"{name}/init/{key}"] = value.numpy().copy()
        rows = predict(model, rank).numpy()
        full = global_rows(comm, ids, rows, meta["num_nodes"])
        if full is not None:
            results[f"{name}/forward"] = full
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
