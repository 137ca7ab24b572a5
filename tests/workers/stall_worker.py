"""MPI worker: one rank gets stuck inside an epoch; the watchdog must end the job and name it.

Usage: mpiexec -n N python -m mpi4py tests/workers/stall_worker.py PART_DIR STUCK_RANK WATCHDOG_SECONDS [HOW SILENCE]
Rank STUCK_RANK, in layer 0's compute at epoch 3 (after its halo exchange), by HOW:
- ``sleep`` (the default): sleeps 120 s, as a rank reading a dead file system would;
- ``slow``: sleeps 5 s, a slow epoch, which must not end the job;
- ``stop``: stops itself (SIGSTOP), as a rank whose node is gone: the others hear nothing more from it.
The others go on to the next collective and wait there. SILENCE sets the watchdog's ``PEER_SILENCE_S``.
"""
import os
import signal
import sys
import time

import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import GCN, DistGCNConv
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions, watchdog


class Stalling(DistGCNConv):
    stuck_rank, how = -1, "sleep"

    def forward(self, h, graph):
        out = super().forward(h, graph)
        if graph.exchange.comm.rank == self.stuck_rank and graph.epoch == 2 and self.training:
            if self.how == "stop":
                os.kill(os.getpid(), signal.SIGSTOP)
            time.sleep(5 if self.how == "slow" else 120)
        return out


class StallingGCN(GCN):
    def init_conv(self, in_channels, out_channels, last=False, **kwargs):
        return Stalling(in_channels, out_channels, **kwargs)


def main(part_dir, stuck_rank, seconds, how="sleep", silence=None):
    if silence is not None:
        watchdog.PEER_SILENCE_S = float(silence)
    Stalling.how = how
    comm = Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm)
    Stalling.stuck_rank = int(stuck_rank)
    model = StallingGCN(meta["num_features"], 16, 2, meta["num_classes"], input_dropout=0.5)
    trainer = Trainer(model, rank, options=TrainOptions(watchdog=float(seconds)))
    trainer.fit(20)
    print("finished without the watchdog", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
