"""MPI worker: rank 0 sends BYTES to rank 1 (its own host) and gets them back, then the same with rank 2 (another
host), and reads how many bytes crossed its host's link (``eth0``) during each, so that a test can see which
transfers go over the network.

Usage: mpiexec -n N python -m mpi4py tests/workers/traffic_worker.py BYTES
Prints one JSON line from rank 0: every rank's host name and host index (MPI's shared-memory split), and the bytes
through eth0 while it talked to rank 1 and to rank 2.
"""
import json
import sys
from pathlib import Path

import numpy as np

from gnnpart.comm import Communicator


def link_bytes() -> int:
    """Bytes received and sent through eth0 of this process's network namespace (/proc/net/dev is per namespace;
    /sys/class/net is the one of the namespace sysfs was mounted in)."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "eth0":
            fields = counters.split()
            return int(fields[0]) + int(fields[8])
    raise SystemExit("traffic_worker: no eth0 in /proc/net/dev (run it on a host of .ci/hosts.sh)")


def main(nbytes: str) -> None:
    comm = Communicator()
    host, names = comm.hosts()
    data, world, crossed = np.ones(int(nbytes), dtype=np.uint8), comm.comm, {}
    for dest in (1, 2):
        world.Barrier()
        before = link_bytes() if comm.rank == 0 else 0
        if comm.rank == 0:
            world.Send(data, dest=dest, tag=7)
            world.Recv(data, source=dest, tag=8)
            crossed[dest] = link_bytes() - before
        elif comm.rank == dest:
            world.Recv(data, source=0, tag=7)
            world.Send(data, dest=0, tag=8)
    world.Barrier()
    if comm.rank == 0:
        print(json.dumps({"host": host.tolist(), "names": names, "crossed": crossed}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
