"""``gnnpart partition``: load a dataset, split it, write the partition directory."""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from gnnpart.cli.inspect_command import format_summary
from gnnpart.cli.option_fields import add_options, build_config, flags_of, option
from gnnpart.limits import check_threads

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
                         "multi-threaded, one weight combined from --balance; `pip install kaminpar`), ptscotch "
                         "(PT-Scotch on the -n MPI ranks, each reading only its slice of the graph, one combined "
                         "weight; started on Open MPI, which it links) or random",
                         choices=["metis", "kaminpar", "ptscotch", "random"])
    balance: str | None = option(None, "constraints to balance, from nodes,edges,train,types (types: the nodes of "
                                 "each node type; default: nodes,train for metis, each within 3%%, types,edges,train "
                                 "on a typed graph; nodes,edges for kaminpar and ptscotch, combined into one weight)")
    seed: int = option(0, "seed of the partitioner")
    threads: int | None = option(None, "kaminpar's threads (default: the cores this process may use)")
    overwrite: bool = option(False, "replace DIR if it exists")
    max_memory: float | None = option(None, "GiB partitioning may use, per rank with ptscotch (default: the memory "
                                      "available); METIS, KaMinPar or a ptscotch slice that "
                                      "cannot fit is refused up front, with its estimate. Features do not count: "
                                      "partition a graph directory (`gnnpart convert` / `generate`) to keep them on "
                                      "disk", metavar="GIB")
    nprocs: int | None = option(None, "write the parts with NPROCS MPI ranks, started with mpiexec (omit when already "
                                "started by mpiexec; with ptscotch, Open MPI's, default 1 rank); every rank opens "
                                "DATASET, so give a graph directory, which it maps instead of loading (with "
                                "ptscotch, only its slice), and a file system all ranks share", flags=("-n",),
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
    if config.threads is not None:
        check_threads(config.threads, "--threads")
    if config.nprocs is not None and config.nprocs < 1:
        raise ValueError(f"--nprocs must be >= 1 (got {config.nprocs})")
    if config.max_memory is not None and not 0 < config.max_memory < float("inf"):
        raise ValueError(f"--max-memory must be a positive, finite number of GiB (got {config.max_memory})")
    return config


def run(config: PartitionConfig, comm=None) -> dict:
    from gnnpart.data import load
    from gnnpart.partition.assign import DISTRIBUTED_METHODS

    if config.method in DISTRIBUTED_METHODS:
        return _run_distributed(config, comm)
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


def _run_distributed(config: PartitionConfig, comm=None) -> dict:
    """``--method ptscotch`` on the ranks of ``comm`` (default: the MPI world): a graph directory is read by each
    rank in slices; another dataset is loaded by every rank whole (a small one), then sliced."""
    from gnnpart.data import load
    from gnnpart.data.graph_dir import is_graph_dir
    from gnnpart.partition.assign import parse_balance
    from gnnpart.partition.distributed import partition_distributed
    from gnnpart.partition.ptscotch import require_installed

    balance = parse_balance(config.balance, config.method)
    require_installed()
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    from gnnpart.data.loading import _resolve, default_root

    path = _resolve(config.dataset, Path(config.root) if config.root else default_root())
    source = path if is_graph_dir(path) else load(config.dataset, root=config.root)
    return partition_distributed(comm, source, config.num_parts, config.out, balance, config.seed,
                                 config.overwrite, config.dataset,
                                 None if config.max_memory is None else config.max_memory * 2**30)


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.atomic import terminate_on_signals
    from gnnpart.cli.launcher import job_size

    config = config_from_args(args)
    size = job_size()
    distributed = config.method == "ptscotch"
    if size is None and (distributed or (config.nprocs is not None and config.nprocs > 1)):
        return _launch(config, list(args.argv))
    if config.nprocs is not None and size is not None and size != config.nprocs:
        raise ValueError(f"-n {config.nprocs} does not match the MPI job this runs in ({size} ranks)")
    if size is not None and (size > 1 or distributed):
        from gnnpart.cli.rank_job import run_rank

        return run_rank("gnnpart partition", lambda comm: _writer_rank(config, comm.comm), flags_of(PartitionConfig))
    with terminate_on_signals():  # SIGTERM / SIGHUP: remove the temporary folder, then exit 128 + signal
        meta = run(config)
    print(format_summary(meta, config.out))
    return 0


def check_dataset(config: PartitionConfig) -> None:
    """What the launcher checks of DATASET before any rank starts: that it names a dataset (a path that exists, a
    known name, a valid spec; :func:`~gnnpart.data.loading.locate`) and, for ``--method ptscotch``, that it is not
    a typed graph."""
    from gnnpart.data.loading import locate
    from gnnpart.partition.graph_slice import TYPED_REFUSAL

    found = locate(config.dataset, config.root)
    if config.method == "ptscotch" and found.typed:
        raise ValueError(TYPED_REFUSAL)


def _launch(config: PartitionConfig, argv: list[str]) -> int:
    """Start the writers under mpiexec, after the checks that need no rank."""
    import os

    from gnnpart.cli.rank_job import strip_nprocs
    from gnnpart.partition.assign import parse_balance
    from gnnpart.atomic import check_output_dir
    from gnnpart.cli.launcher import launch_job

    parse_balance(config.balance, config.method)
    check_dataset(config)
    env = dict(os.environ)
    mpiexec = None
    if config.method == "kaminpar":  # refused here, before any rank starts
        from gnnpart.partition.kaminpar import require_kaminpar

        require_kaminpar()
    if config.method == "ptscotch":
        from gnnpart.cli.launcher import open_mpi_launcher
        from gnnpart.partition.ptscotch import INSTALL_HINT, MPI_SONAME, require_installed

        require_installed()
        mpiexec = open_mpi_launcher("`method` ptscotch (PT-Scotch links Open MPI)", INSTALL_HINT)
        env["MPI4PY_LIBMPI"] = MPI_SONAME  # the Open MPI library PT-Scotch links, whatever mpi4py loads otherwise
    check_output_dir(config.out, config.overwrite)
    return launch_job(config.nprocs or 1, ["-m", "gnnpart", *strip_nprocs(argv)], mpiexec, env, outputs=[config.out])


def _writer_rank(config: PartitionConfig, comm) -> None:
    """One writer of a parallel partitioning: rank 0 reports (an error the writers agreed on,
    :class:`~gnnpart.partition.parallel.WritersFailed`, too: :func:`~gnnpart.cli.rank_job.run_rank`)."""
    from gnnpart.atomic import terminate_on_signals

    rank = comm.Get_rank()
    if rank:
        logging.getLogger("gnnpart").setLevel(logging.WARNING)
    with terminate_on_signals():  # SIGTERM / SIGHUP forwarded by mpiexec: rank 0 removes the temporary folder
        meta = run(config, comm)
    if rank == 0:
        print(format_summary(meta, config.out), flush=True)
