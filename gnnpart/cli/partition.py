"""``gnnpart partition``: load a dataset, split it, write the partition directory."""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

from gnnpart.cli.options import add_options, build_config, option
from gnnpart.cli.inspect import format_summary

log = logging.getLogger("gnnpart.cli")


@dataclass
class PartitionConfig:
    """The options of ``gnnpart partition``, each written once (the parser and its help are built from them)."""

    dataset: str = option(help="dataset spec (see `gnnpart datasets`)", positional=True, metavar="DATASET")
    num_parts: int = option(help="number of parts (one MPI rank each)", flags=("-k",), metavar="K")
    out: str = option(help="partition directory to create", flags=("-o",), metavar="DIR")
    root: str | None = option(None, "folder of the named datasets (default $GNNPART_DATA, then ../shared/datasets)",
                              metavar="DATA")
    method: str = option("metis", "partitioner", choices=["metis", "random"])
    balance: str = option("nodes,train", "constraints METIS balances, from nodes,edges,train")
    seed: int = option(0, "seed of the partitioner")
    overwrite: bool = option(False, "replace DIR if it exists")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "partition",
        help="split a dataset into parts and write a partition directory",
        description="Load DATASET, split it into --num-parts parts and write the partition directory --out.",
    )
    add_options(p, PartitionConfig)
    p.set_defaults(handler=run_cli)


def config_from_args(args: argparse.Namespace) -> PartitionConfig:
    config = build_config(PartitionConfig, args)
    if isinstance(config.num_parts, bool) or not isinstance(config.num_parts, int) or config.num_parts < 1:
        raise ValueError(f"--num-parts must be an integer >= 1 (got {config.num_parts})")
    return config


def run(config: PartitionConfig) -> dict:
    from gnnpart.data import load
    from gnnpart.partition import partition_graph
    from gnnpart.partition.assign import parse_balance
    from gnnpart.partition.atomic import check_output_dir

    parse_balance(config.balance)
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
    )


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.partition.atomic import terminate_on_signals

    config = config_from_args(args)
    with terminate_on_signals():  # SIGTERM / SIGHUP: remove the temporary folder, then exit 128 + signal
        meta = run(config)
    print(format_summary(meta, config.out))
    return 0
