"""``gnnpart generate``: write a synthetic graph straight into a graph directory, its features drawn and written in
blocks (the same graph as ``synthetic:SPEC``); with ``-n P``, drawn in slices by P MPI ranks
(:mod:`gnnpart.data.sliced`: the same graph for any P, not ``synthetic:SPEC``'s)."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from gnnpart.cli.convert_command import report, run_in_slices
from gnnpart.cli.option_fields import add_options, build_config, flags_of, option


@dataclass
class GenerateConfig:
    """The options of ``gnnpart generate``."""

    spec: str = option(help="synthetic spec, `key=value,...` (with or without `synthetic:`; keys in `gnnpart "
                       "datasets`)", positional=True, metavar="SPEC")
    out: str = option(help="graph directory to create", flags=("-o",), metavar="DIR")
    overwrite: bool = option(False, "replace DIR if it is a graph directory")
    nprocs: int | None = option(None, "draw it in NPROCS slices, one MPI rank each, started with mpiexec (omit when "
                                "already started by mpiexec): the same graph for any NPROCS, drawn per node from a "
                                "hash of its id, so not the graph of SPEC without -n (see the README)", flags=("-n",),
                                metavar="NPROCS")


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="write a synthetic graph to a graph directory, its features in blocks",
                       description="Generate the synthetic graph SPEC straight into the graph directory --out: the "
                                   "structure in memory, the features drawn and written in blocks (the same graph "
                                   "as `synthetic:SPEC`).")
    add_options(p, GenerateConfig)
    p.set_defaults(handler=run_generate, flags=flags_of(GenerateConfig))


def run_generate(args: argparse.Namespace) -> int:
    from gnnpart.atomic import check_output_dir, terminate_on_signals
    from gnnpart.cli.launcher import job_size, refuse_srun_without_mpi
    from gnnpart.data.graph_dir import KIND
    from gnnpart.data.sliced import check_spec, generate_sliced
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir

    config = build_config(GenerateConfig, args)
    if config.nprocs is not None and config.nprocs < 1:
        raise ValueError(f"--nprocs must be >= 1 (got {config.nprocs})")
    spec = SyntheticSpec.parse(config.spec.removeprefix("synthetic:").removeprefix("synthetic"))
    size = job_size()
    refused = refuse_srun_without_mpi(size, "draw")  # each srun task would draw alone: task 0 says why
    if refused is not None:
        return refused
    sliced = config.nprocs is not None or size is not None  # started under mpiexec, even with 1 rank: in slices
    if sliced:
        check_spec(spec)
    if config.nprocs is not None and size is not None and size != config.nprocs:
        raise ValueError(f"-n {config.nprocs} does not match the MPI job this runs in ({size} rank"
                         f"{'s' if size > 1 else ''})")
    if size is not None and size > 1:
        return run_in_slices("gnnpart generate", lambda comm: generate_sliced(
            spec, config.out, overwrite=config.overwrite, comm=comm), config.out, flags_of(GenerateConfig))
    check_output_dir(config.out, config.overwrite, KIND)
    if config.nprocs is not None and config.nprocs > 1:
        return _launch(config, list(args.argv))
    start = time.perf_counter()
    with terminate_on_signals():
        meta = (generate_sliced(spec, config.out, overwrite=config.overwrite) if sliced else
                generate_to_dir(spec, config.out, overwrite=config.overwrite))
    print(report(meta, config.out, time.perf_counter() - start))
    return 0


def _launch(config: GenerateConfig, argv: list[str]) -> int:
    """Start the ranks under mpiexec, after the checks that need no rank."""
    from gnnpart.cli.launcher import launch_job
    from gnnpart.cli.rank_job import strip_nprocs

    return launch_job(config.nprocs, ["-m", "gnnpart", *strip_nprocs(argv)], outputs=[config.out])
