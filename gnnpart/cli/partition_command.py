"""``gnnpart partition``: load a dataset, split it, write the partition directory."""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

from gnnpart.cli.inspect_command import format_summary
from gnnpart.cli.option_fields import add_options, build_config, flags_of, option

log = logging.getLogger("gnnpart.cli")


@dataclass
class PartitionConfig:
    """The options of ``gnnpart partition``, each written once (the parser and its help are built from them)."""

    dataset: str = option(help="dataset spec (see `gnnpart datasets`)", positional=True, metavar="DATASET")
    num_parts: int = option(help="number of parts (one MPI rank each)", flags=("-k",), metavar="K")
    out: str = option(help="partition directory to create", flags=("-o",), metavar="DIR")
    root: str | None = option(None, "folder of the named datasets (default $GNNPART_DATA, then ../shared/datasets)",
                              metavar="DATA")
    method: str = option("metis", "partitioner: metis (every constraint balanced), kaminpar (KaMinPar, "
                         "multi-threaded, one weight combined from --balance; `pip install kaminpar`) or random",
                         choices=["metis", "kaminpar", "random"])
    balance: str | None = option(None, "constraints to balance, from nodes,edges,train (default: nodes,train for "
                                 "metis, each within 3%%; nodes,edges for kaminpar, combined into one weight)")
    seed: int = option(0, "seed of the partitioner")
    threads: int | None = option(None, "kaminpar's threads (default: the cores this process may use)")
    overwrite: bool = option(False, "replace DIR if it exists")
    max_memory: float | None = option(None, "GiB partitioning may use (default: the memory available); METIS or KaMinPar that "
                                      "cannot fit is refused up front, with its estimate. Features do not count: "
                                      "partition a graph directory (`gnnpart convert` / `generate`) to keep them on "
                                      "disk", metavar="GIB")
    nprocs: int | None = option(None, "write the parts with NPROCS MPI ranks, started with mpiexec (omit when already "
                                "started by mpiexec); every rank opens DATASET, so give a graph directory, which it "
                                "maps instead of loading, and a file system all ranks share", flags=("-n",),
                                metavar="NPROCS")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "partition",
        help="split a dataset into parts and write a partition directory",
        description="Load DATASET, split it into --num-parts parts and write the partition directory --out.",
    )
    add_options(p, PartitionConfig)
    p.set_defaults(handler=run_cli, flags=flags_of(PartitionConfig))


def config_from_args(args: argparse.Namespace) -> PartitionConfig:
    config = build_config(PartitionConfig, args)
    if isinstance(config.num_parts, bool) or not isinstance(config.num_parts, int) or config.num_parts < 1:
        raise ValueError(f"--num-parts must be an integer >= 1 (got {config.num_parts})")
    if config.threads is not None and config.threads < 1:
        raise ValueError(f"--threads must be >= 1 (got {config.threads})")
    if config.nprocs is not None and config.nprocs < 1:
        raise ValueError(f"--nprocs must be >= 1 (got {config.nprocs})")
    if config.max_memory is not None and not 0 < config.max_memory < float("inf"):
        raise ValueError(f"--max-memory must be a positive, finite number of GiB (got {config.max_memory})")
    return config


def run(config: PartitionConfig, comm=None) -> dict:
    from gnnpart.data import load
    from gnnpart.partition import partition_graph
    from gnnpart.partition.assign import parse_balance
    from gnnpart.atomic import check_output_dir

    parse_balance(config.balance, config.method)
    if config.method == "kaminpar":
        from gnnpart.partition.kaminpar import require_kaminpar

        require_kaminpar()
    check_output_dir(config.out, config.overwrite)  # fail before the slow steps
    start = time.perf_counter()
    log.info("loading dataset %s", config.dataset)
    graph = load(config.dataset, root=config.root)
    log.info("loaded %r in %.1f s", graph, time.perf_counter() - start)
    if config.num_parts > graph.num_nodes:
        raise ValueError(f"--num-parts must be between 1 and the number of nodes ({graph.num_nodes}) (got {config.num_parts})")
    return partition_graph(
        graph, config.num_parts, config.out, method=config.method, balance=config.balance,
        seed=config.seed, overwrite=config.overwrite, dataset=config.dataset,
        max_memory=None if config.max_memory is None else config.max_memory * 2**30, comm=comm,
        threads=config.threads,
    )


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.atomic import terminate_on_signals
    from gnnpart.cli.launcher import job_size

    config = config_from_args(args)
    size = job_size()
    if config.nprocs is not None and config.nprocs > 1 and size is None:
        return _launch(config, list(args.argv))
    if config.nprocs is not None and size is not None and size != config.nprocs:
        raise ValueError(f"-n {config.nprocs} does not match the MPI job this runs in ({size} ranks)")
    if size is not None and size > 1:
        from gnnpart.cli.rank_job import run_rank

        return run_rank("gnnpart partition", lambda comm: _writer_rank(config, comm.comm), flags_of(PartitionConfig))
    with terminate_on_signals():  # SIGTERM / SIGHUP: remove the temporary folder, then exit 128 + signal
        meta = run(config)
    print(format_summary(meta, config.out))
    return 0


def _launch(config: PartitionConfig, argv: list[str]) -> int:
    """Start the writers under mpiexec, after the checks that need no rank."""
    import os

    from gnnpart.cli.rank_job import strip_nprocs
    from gnnpart.partition.assign import parse_balance
    from gnnpart.atomic import check_output_dir
    from gnnpart.cli.launcher import mpiexec_command, run_job

    parse_balance(config.balance, config.method)
    if config.method == "kaminpar":  # refused here, before any rank starts
        from gnnpart.partition.kaminpar import require_kaminpar

        require_kaminpar()
    check_output_dir(config.out, config.overwrite)
    cmd = mpiexec_command(config.nprocs, ["-m", "gnnpart", *strip_nprocs(argv)])
    return run_job(cmd, dict(os.environ, GNNPART_LAUNCHED="1"))


def _writer_rank(config: PartitionConfig, comm) -> None:
    """One writer of a parallel partitioning: rank 0 reports; an error the writers agreed on is raised by rank 0
    alone (the others stop quietly), any other error ends the job."""
    from gnnpart.atomic import terminate_on_signals
    from gnnpart.partition.parallel import WritersFailed

    rank = comm.Get_rank()
    if rank:
        logging.getLogger("gnnpart").setLevel(logging.WARNING)
    try:
        with terminate_on_signals():  # SIGTERM / SIGHUP forwarded by mpiexec: rank 0 removes the temporary folder
            meta = run(config, comm)
    except WritersFailed:
        if rank == 0:
            raise
        comm.Barrier()  # rank 0 reports and ends the job
        return
    if rank == 0:
        print(format_summary(meta, config.out), flush=True)
