"""``gnnpart generate``: write a synthetic graph straight into a graph directory, its features drawn and written in
blocks (the same graph as ``synthetic:SPEC``)."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from gnnpart.cli.convert_command import report
from gnnpart.cli.option_fields import add_options, build_config, flags_of, option


@dataclass
class GenerateConfig:
    """The options of ``gnnpart generate``."""

    spec: str = option(help="synthetic spec, `key=value,...` (with or without `synthetic:`; keys in `gnnpart "
                       "datasets`)", positional=True, metavar="SPEC")
    out: str = option(help="graph directory to create", flags=("-o",), metavar="DIR")
    overwrite: bool = option(False, "replace DIR if it is a graph directory")


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="write a synthetic graph to a graph directory, its features in blocks",
                       description="Generate the synthetic graph SPEC straight into the graph directory --out: the "
                                   "structure in memory, the features drawn and written in blocks (the same graph "
                                   "as `synthetic:SPEC`).")
    add_options(p, GenerateConfig)
    p.set_defaults(handler=run_generate, flags=flags_of(GenerateConfig))


def run_generate(args: argparse.Namespace) -> int:
    from gnnpart.atomic import check_output_dir, terminate_on_signals
    from gnnpart.data.graph_dir import KIND
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir

    config = build_config(GenerateConfig, args)
    spec = SyntheticSpec.parse(config.spec.removeprefix("synthetic:").removeprefix("synthetic"))
    check_output_dir(config.out, config.overwrite, KIND)
    start = time.perf_counter()
    with terminate_on_signals():
        meta = generate_to_dir(spec, config.out, overwrite=config.overwrite)
    print(report(meta, config.out, time.perf_counter() - start))
    return 0
