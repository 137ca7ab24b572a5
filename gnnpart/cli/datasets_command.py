"""``gnnpart datasets``: the built-in dataset specs."""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list the built-in dataset specs", description="List the dataset specs DATASET accepts.")
    p.set_defaults(handler=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.data.loading import DATASETS, default_root

    width = max(len(k) for k in DATASETS)
    for spec, text in DATASETS.items():
        print(f"{spec:<{width}}  {text}")
    print(f"\nnamed datasets are read from --root, default {default_root()} ($GNNPART_DATA overrides)")
    return 0
