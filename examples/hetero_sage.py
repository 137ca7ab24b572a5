"""A heterogeneous model of PyG's own parts: ``HeteroConv`` with a ``SAGEConv`` per relation, run distributed and exact.

    gnnpart partition "synthetic:hetero=mag,nodes=20000" --num-parts 2 --out /tmp/mag-2
    mpiexec -n 2 python -m mpi4py examples/hetero_sage.py /tmp/mag-2

Each layer is a ``HaloLayer``: it fetches its halo rows once (``graph.halo``), splits the local rows by node type
and the local edges by relation (``gnnpart.nn.typed_view.typed_inputs``), runs PyG's ``HeteroConv`` on them and
keeps the inner rows (``inner_output``). Every in-edge of an inner node is local, so a ``SAGEConv``'s output
for an inner node is the whole graph's. Before the first layer, ``TypedInput`` gives every type its rows at the
hidden width at their owner: a linear map of its features, or the learnable embedding of a featureless type
(sharded by owner, trained by sparse Adam). Dropout is ``HashDropout`` (masks by global node id).
"""
import sys

import torch
from torch import nn
from torch_geometric.nn import HeteroConv, SAGEConv

from gnnpart.comm import Communicator
from gnnpart.nn import HaloLayer, HashDropout
from gnnpart.nn.rgcn import TypedInput, TypedStack
from gnnpart.nn.typed_view import inner_output, typed_inputs
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.train.callbacks import EpochPrinter


class HeteroLayer(HaloLayer):
    """PyG's ``HeteroConv`` over a typed local graph, with rows exchanged at ``width`` (``in -> out`` channels)."""

    def __init__(self, relations, width: int, out_channels: int):
        super().__init__()
        self.width, self.out_channels = width, out_channels
        self.conv = HeteroConv({rel: SAGEConv(width, out_channels) for rel in relations}, aggr="sum")

    @property
    def exchange_width(self) -> int:
        return self.width

    def forward(self, x, graph):
        x_dict, edge_index_dict = typed_inputs(graph, graph.halo(x, self))
        return inner_output(graph, self.conv(x_dict, edge_index_dict), self.out_channels)


class HeteroSAGE(TypedStack):
    """The typed input, then the layers, ReLU and dropout between them (TypedStack's forward)."""

    def __init__(self, graph, hidden: int, out_channels: int, num_layers: int = 2, dropout: float = 0.5):
        super().__init__()
        self.input = TypedInput(graph, hidden)
        outs = [hidden] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(HeteroLayer(graph.types.relations, hidden, o) for o in outs)
        self.drop = HashDropout(dropout)


def main(part_dir: str, epochs: str = "30") -> None:
    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm)
    torch.manual_seed(0)
    model = HeteroSAGE(rank.graph, 64, rank.meta["num_classes"])
    trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, eval_every=5), callbacks=[EpochPrinter(print)])
    trainer.fit(int(epochs))
    if comm.rank == 0:
        print(f"best validation accuracy {trainer.best.val_acc:.3f} at epoch {trainer.best.epoch}, "
              f"test accuracy there {trainer.best.test_acc:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
