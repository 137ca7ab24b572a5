"""``gnnpart demo``: partition a built-in synthetic graph into 4 parts and train a GCN on 4 ranks."""
from __future__ import annotations

import argparse
import tempfile
import time

from gnnpart.comm.transport_choice import TRANSPORTS
from gnnpart.rank.device import DEVICES, Placement

DEMO_SPEC = "synthetic:nodes=100000,degree=10,classes=8,features=64,seed=0"


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="partition a synthetic graph and train a GCN on several MPI ranks",
                       description="Partition a built-in synthetic graph and train a 2-layer GCN on one rank per part.")
    p.add_argument("--dataset", default=DEMO_SPEC, help=f"dataset spec (default {DEMO_SPEC})")
    p.add_argument("--parts", type=int, default=4, help="parts = MPI ranks (default 4)")
    p.add_argument("--epochs", type=int, default=50, help="epochs (default 50)")
    p.add_argument("--model", default="gcn", help="model (default gcn)")
    p.add_argument("--device", default="cpu", choices=DEVICES,
                   help="where each rank trains: cpu, cuda or auto (cuda when torch sees a GPU); default cpu")
    p.add_argument("--transport", default="mpi", choices=TRANSPORTS,
                   help="how GPU tensors travel: mpi (staged through host memory), mpi-cuda or nccl; default mpi")
    p.add_argument("--out", metavar="DIR", help="keep the partition directory here (default: a temporary one)")
    p.set_defaults(handler=run_cli, flags={"device": "--device", "transport": "--transport"})


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.cli import partition_command as partition_cmd
    from gnnpart.cli.launcher import launch_job

    # before partitioning: no GPU for --device cuda is one line, not a failed job
    Placement(args.device, args.transport).check_available()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gnnpart-demo-") as tmp:
        out = args.out or f"{tmp}/parts"
        partition_cmd.run(partition_cmd.PartitionConfig(dataset=args.dataset, num_parts=args.parts, out=out, overwrite=True))
        print(f"partitioned {args.dataset} into {args.parts} parts in {time.perf_counter() - start:.1f} s; "
              f"training on {args.parts} ranks", flush=True)
        code = launch_job(args.parts, ["-m", "gnnpart", "train", out, "--model", args.model, "--hidden", "64",
                                       "--epochs", str(args.epochs), "--eval-every", "10", "--threads", "1",
                                       "--device", args.device, "--transport", args.transport])
    print(f"demo finished in {time.perf_counter() - start:.1f} s", flush=True)
    return code
