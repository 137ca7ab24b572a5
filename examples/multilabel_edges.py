"""Multi-label classification with edge features, then full-graph inference, with the Python API.

    gnnpart partition "synthetic:nodes=20000,task=multilabel:16,edge_features=4" --num-parts 4 --out /tmp/ml-4
    mpiexec -n 4 python -m mpi4py examples/multilabel_edges.py /tmp/ml-4 /tmp/ml-probabilities.npy

The model is GIN with edge features (PyG's GINEConv through HaloConv); the task (multilabel) comes from the
labels. Every rank writes its rows of the probabilities into one .npy, in global node order.
"""
import sys

import torch

from gnnpart.comm import Communicator
from gnnpart.nn import GINE
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.train.callbacks import EpochPrinter


def main(part_dir: str, out: str) -> None:
    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm)
    meta = rank.meta
    torch.manual_seed(0)
    model = GINE(meta["num_features"], 64, num_layers=2, out_channels=meta["num_outputs"], dropout=0.2,
                 edge_dim=meta["num_edge_features"])
    trainer = Trainer(model, rank, options=TrainOptions(lr=0.005, eval_every=10), callbacks=[EpochPrinter(print)])
    trainer.fit(60)                                       # keeps the best validation ROC-AUC's weights
    path = trainer.predict(out, probabilities=True)       # every rank writes its own rows
    if comm.rank == 0:
        print(f"best validation {trainer.best.metric} {trainer.best.val_score:.3f} at epoch {trainer.best.epoch}, "
              f"test {trainer.best.test_score:.3f}; probabilities of {meta['num_nodes']:,} nodes in {path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
