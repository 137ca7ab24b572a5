"""``gnnpart convert``: write a dataset as a graph directory, read memory-mapped later.

A graph directory (:mod:`gnnpart.data.graph_dir`) keeps the features on disk: ``gnnpart partition DIR`` then needs
memory for the structure only.
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

from gnnpart.cli.option_fields import add_options, build_config, flags_of, option

log = logging.getLogger("gnnpart.cli")


@dataclass
class ConvertConfig:
    """The options of ``gnnpart convert``."""

    dataset: str = option(help="dataset spec (see `gnnpart datasets`)", positional=True, metavar="DATASET")
    out: str = option(help="graph directory to create", flags=("-o",), metavar="DIR")
    root: str | None = option(None, "folder of the named datasets (default $GNNPART_DATA, then ../shared/datasets)",
                              metavar="DATA")
    overwrite: bool = option(False, "replace DIR if it is a graph directory")
    nprocs: int | None = option(None, "convert a text edge list with NPROCS MPI ranks, each parsing a byte range of "
                                "the file, started with mpiexec (omit when already started by mpiexec); the same "
                                "directory as one process writes", flags=("-n",), metavar="NPROCS")


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="write a dataset as a graph directory (read memory-mapped later)",
                       description="Load DATASET and write it to the graph directory --out: one .npy per field and "
                                   "meta.json, read memory-mapped by `gnnpart partition DIR` (see datasets/README.md).")
    add_options(p, ConvertConfig)
    p.set_defaults(handler=run_convert, flags=flags_of(ConvertConfig))


def report(meta: dict, out: str, seconds: float) -> str:
    """The line that says what was written (``convert`` and ``generate``)."""
    return (f"graph directory {out}: {meta['name']}, {meta['num_nodes']:,} nodes, {meta['num_edges']:,} edges, "
            f"{meta['num_features']} features, {seconds:.1f} s")


def run_in_slices(command: str, work, out: str, flags: dict) -> int:
    """One rank of a job writing a graph directory in slices (``generate -n``, ``convert -n``): ``work(comm)``
    (mpi4py) returns ``meta.json``; rank 0 prints :func:`report`. A failure the ranks agreed on
    (:class:`~gnnpart.data.sliced.SlicesFailed`) is reported once, by rank 0, naming every failing rank, and the
    job ends cleanly (:func:`~gnnpart.cli.rank_job.run_rank`); any other error ends the job at once."""
    from gnnpart.atomic import terminate_on_signals
    from gnnpart.cli.rank_job import run_rank

    start = time.perf_counter()

    def rank(comm):
        if comm.rank:
            logging.getLogger("gnnpart").setLevel(logging.WARNING)
        with terminate_on_signals():  # SIGTERM / SIGHUP forwarded by mpiexec: rank 0 removes its folder
            meta = work(comm.comm)
        if comm.rank == 0:
            print(report(meta, out, time.perf_counter() - start))

    return run_rank(command, rank, flags)


def run_convert(args: argparse.Namespace) -> int:
    from gnnpart.atomic import check_output_dir, terminate_on_signals
    from gnnpart.cli.launcher import job_size, refuse_srun_without_mpi
    from gnnpart.data.convert import convert
    from gnnpart.data.edge_slices import convert_sliced, edge_list_source
    from gnnpart.data.graph_dir import KIND

    config = build_config(ConvertConfig, args)
    if config.nprocs is not None and config.nprocs < 1:
        raise ValueError(f"--nprocs must be >= 1 (got {config.nprocs})")
    size = job_size()
    refused = refuse_srun_without_mpi(size, "convert")  # each srun task would convert alone: task 0 says why
    if refused is not None:
        return refused
    sliced = config.nprocs is not None or size is not None
    if sliced:
        edge_list_source(config.dataset, config.root)  # refused in one line before any rank starts
    if config.nprocs is not None and size is not None and size != config.nprocs:
        raise ValueError(f"-n {config.nprocs} does not match the MPI job this runs in ({size} rank"
                         f"{'s' if size > 1 else ''})")
    start = time.perf_counter()
    if size is not None and size > 1:
        return run_in_slices("gnnpart convert", lambda comm: convert_sliced(
            config.dataset, config.out, config.root, config.overwrite, comm), config.out, flags_of(ConvertConfig))
    check_output_dir(config.out, config.overwrite, KIND)  # fail before the slow steps
    if config.nprocs is not None and config.nprocs > 1:
        from gnnpart.cli.launcher import launch_job
        from gnnpart.cli.rank_job import strip_nprocs

        return launch_job(config.nprocs, ["-m", "gnnpart", *strip_nprocs(list(args.argv))], outputs=[config.out])
    with terminate_on_signals():
        log.info("converting %s to %s", config.dataset, config.out)
        meta = (convert_sliced(config.dataset, config.out, config.root, config.overwrite) if sliced else
                convert(config.dataset, config.out, root=config.root, overwrite=config.overwrite))
    print(report(meta, config.out, time.perf_counter() - start))
    return 0
