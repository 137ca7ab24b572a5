"""Train a GCN on Cora across 4 MPI ranks with the Python API.

    gnnpart partition cora --num-parts 4 --out /tmp/cora-4
    mpiexec -n 4 python -m mpi4py examples/train_cora.py /tmp/cora-4 [HALO_SPEC]

HALO_SPEC is a halo exchange policy, as for `gnnpart train --halo` (default exact), e.g. sample:0.5+int8.
"""
import sys

import torch

from gnnpart import load_partition, read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import GCN
from gnnpart.train import Trainer


def main(part_dir: str, halo: str = "exact") -> None:
    comm = Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    part = load_partition(part_dir, comm.rank)  # this rank's part, and nothing more
    torch.manual_seed(0)  # rank 0's initial weights are broadcast to the others anyway
    model = GCN(meta["num_features"], 16, num_layers=2, out_channels=meta["num_classes"], dropout=0.5, input_dropout=0.5)
    trainer = Trainer(model, part, comm, lr=0.01, weight_decay=5e-4, normalize_features=True, eval_every=20,
                      printer=print, halo=halo)
    history = trainer.fit(200)
    if comm.rank == 0:
        print(f"best validation accuracy {trainer.best.val_acc:.3f} at epoch {trainer.best.epoch}, "
              f"test accuracy there {trainer.best.test_acc:.3f}")
        sent, exact = sum(r.halo_bytes for r in history), sum(r.halo_bytes_exact for r in history)
        print(f"halo bytes ({halo}): {sent:,} sent, {sent / max(exact, 1):.3f}x what exact exchanges would send")


if __name__ == "__main__":
    main(*sys.argv[1:3])
