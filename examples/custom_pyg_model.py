"""Bring your own model: PyG convs, run distributed and exact through gnnpart.nn.HaloConv.

    gnnpart partition cora --num-parts 4 --out /tmp/cora-4
    mpiexec -n 4 python -m mpi4py examples/custom_pyg_model.py /tmp/cora-4 [HALO_SPEC]

The model is plain PyTorch and PyG: a GATv2Conv, batch norm, ReLU and dropout, then a SAGEConv. Three things make
it distributed: each conv is wrapped in ``HaloConv`` (it fetches the halo rows before the conv, under the
layer's ``--halo`` policy), normalisation and dropout are gnnpart's (``SyncBatchNorm`` reduces its statistics
over the ranks, ``HashDropout`` draws masks by global node id), and ``forward`` takes ``(x, graph)``.
"""
import sys

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, SAGEConv

from gnnpart import load_partition, read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import HaloConv, HashDropout, SyncBatchNorm, attach_halo_gates
from gnnpart.train import Trainer


class Net(nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int, heads: int = 4):
        super().__init__()
        self.conv1 = HaloConv(GATv2Conv(in_channels, hidden // heads, heads=heads))
        self.norm = SyncBatchNorm(hidden)
        self.drop = HashDropout(0.5)
        self.conv2 = HaloConv(SAGEConv(hidden, out_channels))

    def forward(self, x, graph):
        h = torch.relu(self.norm(self.conv1(self.drop(x, graph, stream=0), graph), graph))
        return self.conv2(self.drop(h, graph, stream=1), graph)


def main(part_dir: str, halo: str = "exact") -> None:
    comm = Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    part = load_partition(part_dir, comm.rank)
    torch.manual_seed(0)
    model = Net(meta["num_features"], 64, meta["num_classes"])
    attach_halo_gates(model, halo)  # a `learned` policy's gates exist before the optimizer is built
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=5e-4)
    trainer = Trainer(model, part, comm, optimizer=optimizer, normalize_features=True, eval_every=10, halo=halo,
                      patience=50, printer=print)
    trainer.fit(200)
    if comm.rank == 0:
        print(f"best validation accuracy {trainer.best.val_acc:.3f} at epoch {trainer.best.epoch}, "
              f"test accuracy there {trainer.best.test_acc:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
