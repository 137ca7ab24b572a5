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

from gnnpart.comm import Communicator, parse_halo
from gnnpart.nn import HaloConv, HashDropout, SyncBatchNorm, attach_halo_gates
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.train.callbacks import EarlyStopping, EpochPrinter


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
    rank = Rank.open(part_dir, comm, normalize_features=True)
    torch.manual_seed(0)
    model = Net(rank.meta["num_features"], 64, rank.meta["num_classes"])
    policies = parse_halo(halo, 2)  # the spec, parsed once: one policy per layer
    attach_halo_gates(model, policies)  # a `learned` policy's gates exist before the optimizer is built
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=5e-4)
    trainer = Trainer(model, rank, optimizer, TrainOptions(eval_every=10), halo=policies,
                      callbacks=[EarlyStopping(50), EpochPrinter(print)])
    trainer.fit(200)
    if comm.rank == 0:
        print(f"best validation accuracy {trainer.best.val_acc:.3f} at epoch {trainer.best.epoch}, "
              f"test accuracy there {trainer.best.test_acc:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
