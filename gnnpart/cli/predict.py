"""``gnnpart predict``: run a trained model over the full graph and write its outputs or embeddings, one MPI rank
per part, into one ``.npy`` in global node order."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from gnnpart.cli.options import add_options, build_config, option
from gnnpart.comm.transport import TRANSPORTS, check_transport
from gnnpart.nn.models import JK_MODES, MODELS, NORMS
from gnnpart.train.device import DEVICES, check_device

WEIGHTS = ("best", "last")


@dataclass
class PredictConfig:
    """The options of ``gnnpart predict``. The model's settings come from the checkpoint; the model flags are
    optional, and one that contradicts the checkpoint is refused."""

    part_dir: str = option(help="partition directory (any number of parts of the graph the model was trained on)",
                           positional=True, metavar="PART_DIR")
    checkpoint: str = option(help="checkpoint folder written by `gnnpart train --checkpoint DIR`", metavar="DIR")
    out: str = option(help="the .npy to write: [num_nodes, C] float32 rows in global node order", metavar="FILE.npy")
    embeddings: int | None = option(None, "write the hidden representation after layer LAYER (0 .. layers-1) instead "
                                          "of the outputs", metavar="LAYER")
    probabilities: bool = option(False, "write probabilities (softmax for multiclass, sigmoid for multilabel) instead "
                                        "of logits")
    weights: str = option("best", "the best-validation weights, or the last epoch's (also what best gives when the "
                                  "run never evaluated)", choices=WEIGHTS)
    overwrite: bool = option(False, "replace an existing --out file")
    model: str | None = option(None, "must match the checkpoint (default: the checkpoint's)", choices=MODELS)
    hidden: int | None = option(None, "must match the checkpoint")
    layers: int | None = option(None, "must match the checkpoint")
    heads: int | None = option(None, "must match the checkpoint")
    norm: str | None = option(None, "must match the checkpoint", choices=NORMS)
    jk: str | None = option(None, "must match the checkpoint", choices=JK_MODES)
    threads: int = option(0, "torch threads per rank (0: cores / ranks)")
    device: str = option("cpu", "where each rank runs: cpu, cuda or auto", choices=DEVICES)
    transport: str = option("mpi", "how GPU tensors travel: mpi, mpi-cuda or nccl", choices=TRANSPORTS)
    nprocs: int | None = option(None, "start NPROCS ranks with mpiexec (omit when already started by mpiexec)",
                                flags=("-n",), metavar="NPROCS")


CHECKED_SETTINGS = ("model", "hidden", "layers", "heads", "norm", "jk")
"""Flags that, when given, must equal the checkpoint's value."""


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="write a trained model's outputs or embeddings for every node",
                       description="Run the model of a checkpoint over PART_DIR (exact halo exchange, no dropout), one "
                                   "MPI rank per part, and write one .npy in global node order.")
    add_options(p, PredictConfig)
    p.set_defaults(handler=run_cli)


def config_from_args(args: argparse.Namespace) -> PredictConfig:
    from gnnpart.train.predict import check_output

    cfg = build_config(PredictConfig, args)
    for name in ("hidden", "layers", "heads", "nprocs"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ValueError(f"--{name} must be >= 1 (got {getattr(cfg, name)})")
    if cfg.embeddings is not None and cfg.embeddings < 0:
        raise ValueError(f"--embeddings must be a layer number >= 0 (got {cfg.embeddings})")
    if cfg.probabilities and cfg.embeddings is not None:
        raise ValueError("--probabilities applies to the model's outputs, not to --embeddings: give one of them")
    if cfg.threads < 0:
        raise ValueError(f"--threads must be >= 0 (got {cfg.threads})")
    check_output(cfg.out, cfg.overwrite)
    check_device(cfg.device)
    check_transport(cfg.transport, cfg.device)
    from pathlib import Path

    from gnnpart.train.checkpoint import CHECKPOINT_FILE

    if not (Path(cfg.checkpoint) / CHECKPOINT_FILE).is_file():
        raise ValueError(f"--checkpoint {cfg.checkpoint}: there is no {CHECKPOINT_FILE} in it (train with "
                         "`gnnpart train --checkpoint DIR` first)")
    return cfg


def run(cfg: PredictConfig, comm=None, printer=print) -> dict:
    """Predict on this rank (inside an MPI job, or alone for a 1-part directory). Returns what was written."""
    import time

    from gnnpart.cli.ranks import open_rank
    from gnnpart.partition import load_partition
    from gnnpart.train.predict import load_trained

    comm, meta, _ = open_rank(cfg.part_dir, comm, cfg.threads)
    start = time.perf_counter()
    part = load_partition(cfg.part_dir, comm.rank, mmap=True)
    given = {k: getattr(cfg, k) for k in CHECKED_SETTINGS if getattr(cfg, k) is not None}
    trainer = load_trained(cfg.checkpoint, part, comm, given, weights=cfg.weights, device=cfg.device,
                           transport=cfg.transport)
    try:
        path = trainer.predict(cfg.out, embeddings=cfg.embeddings, probabilities=cfg.probabilities)
    finally:
        comm.transport.close()
    seconds = time.perf_counter() - start
    if comm.rank == 0:
        what = f"embeddings after layer {cfg.embeddings}" if cfg.embeddings is not None else (
            "probabilities" if cfg.probabilities else "outputs")
        printer(f"wrote {what} of {meta['num_nodes']:,} nodes to {path} ({comm.size} ranks, {seconds:.1f} s)")
    return {"out": str(path), "seconds": seconds}


def run_cli(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    from gnnpart.cli.ranks import dispatch

    return dispatch(cfg.nprocs, cfg.part_dir, list(args.argv), "gnnpart predict",
                    lambda comm: run(cfg, comm, printer=lambda s: print(s, flush=True)))
