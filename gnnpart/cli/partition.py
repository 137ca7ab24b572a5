"""``gnnpart partition``: load a dataset, split it, write the partition directory."""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

from gnnpart.cli.common import apply_config
from gnnpart.cli.inspect import format_summary

log = logging.getLogger("gnnpart.cli")


@dataclass
class PartitionConfig:
    dataset: str
    num_parts: int
    out: str
    root: str | None = None
    method: str = "metis"
    balance: str = "nodes,train"
    seed: int = 0
    overwrite: bool = False


def add_parser(sub) -> None:
    p = sub.add_parser(
        "partition",
        help="split a dataset into parts and write a partition directory",
        description="Load DATASET, split it into --num-parts parts and write the partition directory --out.",
    )
    p.add_argument("dataset", nargs="?", metavar="DATASET", help="dataset spec (see `gnnpart datasets`)")
    p.add_argument("--num-parts", "-k", type=int, metavar="K", help="number of parts (one MPI rank each)")
    p.add_argument("--out", "-o", metavar="DIR", help="partition directory to create")
    p.add_argument("--root", metavar="DATA", help="folder of the named datasets (default $GNNPART_DATA, then ../shared/datasets)")
    p.add_argument("--method", choices=["metis", "random"], default="metis", help="partitioner (default metis)")
    p.add_argument("--balance", default="nodes,train", help="constraints METIS balances, from nodes,edges,train (default nodes,train)")
    p.add_argument("--seed", type=int, default=0, help="seed of the partitioner (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file of these options; flags given here override it")
    p.set_defaults(handler=run_cli, parser=p)


def config_from_args(args: argparse.Namespace) -> PartitionConfig:
    defaults = {k: v for k, v in vars(args.parser.parse_args([])).items() if k not in ("handler", "parser", "config")}
    apply_config(args, defaults)
    for name, flag in (("dataset", "DATASET"), ("num_parts", "--num-parts"), ("out", "--out")):
        if getattr(args, name) is None:
            raise ValueError(f"{flag} is required (on the command line or in --config)")
    if isinstance(args.num_parts, bool) or not isinstance(args.num_parts, int) or args.num_parts < 1:
        raise ValueError(f"--num-parts must be an integer >= 1 (got {args.num_parts})")
    return PartitionConfig(**{k: getattr(args, k) for k in PartitionConfig.__dataclass_fields__})


def run(config: PartitionConfig) -> dict:
    from gnnpart.data import load
    from gnnpart.partition import partition_graph
    from gnnpart.partition.assign import parse_balance
    from gnnpart.partition.store import check_output_dir

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
    config = config_from_args(args)
    meta = run(config)
    print(format_summary(meta, config.out))
    return 0
