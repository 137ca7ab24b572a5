"""APPNP on Cora, as its paper builds it, run distributed and exact: an MLP with batch norm predicts, then APPNP
propagates the predictions K hops (personalised PageRank).

    gnnpart partition cora --num-parts 4 --out /tmp/cora-4
    mpiexec -n 4 python -m mpi4py examples/appnp_cora.py /tmp/cora-4
    gnnpart partition cora --num-parts 1 --out /tmp/cora-1
    python examples/appnp_cora.py /tmp/cora-1      # the same model on one process
    mpiexec -n 4 python -m mpi4py examples/appnp_cora.py /tmp/cora-4 200 float64   # [EPOCHS] [DTYPE]

In float32, the ranks sum a node's messages in another order than one process, so the numbers agree to about 1e-6
and a node whose two best classes are that close may flip; in float64 they agree to about 1e-15.

The model is written as for one process, with a plain ``torch.nn.BatchNorm1d``. Three things make it distributed:
``HaloConv`` runs APPNP hop by hop (the halo rows refreshed from their owners before every hop, with the whole
graph's normalisation), ``convert_sync_norm`` makes the batch norm a ``SyncBatchNorm`` (statistics over every
rank's rows), and ``HashDropout`` draws its masks by global node id. ``forward`` takes ``(x, graph)``.
"""
import sys

import torch
from torch import nn
from torch_geometric.nn import APPNP

from gnnpart.comm import Communicator
from gnnpart.nn import HaloConv, HashDropout, convert_sync_norm
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.train.callbacks import EarlyStopping


class APPNPNet(nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int, k: int = 10, alpha: float = 0.1):
        super().__init__()
        self.lin1 = nn.Linear(in_channels, hidden)
        self.norm = nn.BatchNorm1d(hidden)
        self.lin2 = nn.Linear(hidden, out_channels)
        self.drop = HashDropout(0.5)
        self.prop = HaloConv(APPNP(K=k, alpha=alpha), exchange_width=out_channels)

    def forward(self, x, graph):
        h = torch.relu(self.norm(self.lin1(self.drop(x, graph, stream=0))))
        return self.prop(self.lin2(self.drop(h, graph, stream=1)), graph)


def main(part_dir: str, epochs: str = "200", dtype: str = "float32") -> None:
    if dtype not in ("float32", "float64"):
        raise SystemExit(f"DTYPE must be float32 or float64 (got {dtype!r})")
    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm, normalize_features=True, dtype=getattr(torch, dtype))
    torch.manual_seed(0)
    model = convert_sync_norm(APPNPNet(rank.meta["num_features"], 64, rank.meta["num_classes"]))
    trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, eval_every=5, seed=0),
                      callbacks=[EarlyStopping(50)])
    history = trainer.fit(int(epochs))
    if comm.rank == 0:
        last = history[-1]
        print(f"halo bytes a training epoch: {last.halo_bytes} (APPNP exchanges once per hop, forward and backward)")
        print(f"{comm.size} ranks, {dtype}, {len(history)} epochs: final loss {last.loss:.9f}; best validation "
              f"accuracy {trainer.best.val_acc:.3f} at epoch {trainer.best.epoch}, test accuracy there "
              f"{trainer.best.test_acc:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
