"""Train a GCN on Cora across 4 MPI ranks with the Python API.

    gnnpart partition cora --num-parts 4 --out /tmp/cora-4
    mpiexec -n 4 python -m mpi4py examples/train_cora.py /tmp/cora-4 [HALO_SPEC] [OUT.npy]

HALO_SPEC is a halo exchange policy, as for `gnnpart train --halo` (default exact), e.g. sample:0.5+int8. With
OUT.npy, the trained model's class probabilities for every node are written there, in global node order.
"""
import sys

import torch

from gnnpart.comm import Communicator, parse_halo
from gnnpart.infer import predict
from gnnpart.nn import GCN
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.train.callbacks import EpochPrinter


def main(part_dir: str, halo: str = "exact", out: str | None = None) -> None:
    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm, normalize_features=True)  # this rank's part, and nothing more
    torch.manual_seed(0)  # rank 0's initial weights are broadcast to the others anyway
    model = GCN(rank.x.shape[1], 16, num_layers=2, out_channels=rank.meta["num_classes"], dropout=0.5,
                input_dropout=0.5)
    options = TrainOptions(lr=0.01, weight_decay=5e-4, eval_every=20)
    trainer = Trainer(model, rank, options=options, halo=parse_halo(halo, 2), callbacks=[EpochPrinter(print)])
    history = trainer.fit(200)  # ends with the best-validation weights
    if comm.rank == 0:
        print(f"best validation accuracy {trainer.best.val_acc:.3f} at epoch {trainer.best.epoch}, "
              f"test accuracy there {trainer.best.test_acc:.3f}")
        sent, exact = sum(r.halo_bytes for r in history), sum(r.halo_bytes_exact for r in history)
        print(f"halo bytes ({halo}): {sent:,} sent, {sent / max(exact, 1):.3f}x what exact exchanges would send")
    if out:
        path = predict(model, rank, out, probabilities=True)  # every rank writes its own rows
        if comm.rank == 0:
            print(f"probabilities of {rank.num_nodes:,} nodes in {path}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
