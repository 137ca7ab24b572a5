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


def run_convert(args: argparse.Namespace) -> int:
    from gnnpart.atomic import check_output_dir, terminate_on_signals
    from gnnpart.data.convert import convert
    from gnnpart.data.graph_dir import KIND

    config = build_config(ConvertConfig, args)
    check_output_dir(config.out, config.overwrite, KIND)  # fail before the slow steps
    start = time.perf_counter()
    with terminate_on_signals():
        log.info("converting %s to %s", config.dataset, config.out)
        meta = convert(config.dataset, config.out, root=config.root, overwrite=config.overwrite)
    print(report(meta, config.out, time.perf_counter() - start))
    return 0
