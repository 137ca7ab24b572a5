"""The ``gnnpart`` command line: ``gnnpart <command> ...`` (also ``python -m gnnpart``)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import contextmanager

from gnnpart.cli import (
    convert_command, datasets_command, demo_command, generate_command, inspect_command, mpi_command, partition_command,
    predict_command, train_command,
)
from gnnpart.cli.exit_status import error_line

SUBCOMMANDS = (convert_command, generate_command, partition_command, inspect_command, datasets_command, train_command,
               predict_command, demo_command, mpi_command)


def build_parser() -> argparse.ArgumentParser:
    from gnnpart import __version__

    parser = argparse.ArgumentParser(
        prog="gnnpart",
        description="Partition graphs and train GNNs on them across MPI ranks.",
        epilog="Run `gnnpart COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"gnnpart {__version__}")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="print warnings and errors only")
    noise.add_argument("-v", "--verbose", action="store_true", help="print debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


@contextmanager
def _cli_logging(args):
    """While a command runs, progress and warnings of the ``gnnpart`` loggers go to stderr
    (results go to stdout); the loggers are restored afterwards."""
    logger = logging.getLogger("gnnpart")
    saved = (logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[gnnpart %(relativeCreated)7.0f ms] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        with _cli_logging(args):
            return args.handler(args)
    except Exception as exc:  # noqa: BLE001 - one line for every failure (see gnnpart.cli.exit_status)
        if os.environ.get("GNNPART_DEBUG"):
            raise
        line, code = error_line(f"gnnpart {args.command}", exc, flags=getattr(args, "flags", None))
        print(line, file=sys.stderr)
        return code
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", None)
        print(f"gnnpart {args.command}: {'terminated by signal ' + str(signum) if signum else 'interrupted'}", file=sys.stderr)
        return 128 + signum if signum else 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
