"""``gnnpart predict``: run a trained model over the full graph and write its outputs or embeddings, one MPI rank
per part, into one ``.npy`` in global node order."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from gnnpart.checkpoint.checkpoint_file import CHECKPOINT_FILE, WEIGHTS
from gnnpart.cli.option_fields import add_options, build_config, flags_of, option
from gnnpart.cli.train_command import AGGREGATE_HELP
from gnnpart.comm.sum_plan import AGGREGATE_AT
from gnnpart.comm.transport_choice import TRANSPORTS
from gnnpart.infer.row_file import check_output
from gnnpart.limits import check_threads
from gnnpart.nn.names import JK_MODES, MODELS, NORMS
from gnnpart.rank.device import DEVICES, Placement



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
    node_type: str | None = option(None, "typed graphs: write the rows of this node type, in its own order (the "
                                         "outputs of a target type, or any type's --embeddings; default: the first "
                                         "target type)", metavar="TYPE")
    model: str | None = option(None, "must match the checkpoint (default: the checkpoint's)", choices=MODELS)
    hidden: int | None = option(None, "must match the checkpoint")
    layers: int | None = option(None, "must match the checkpoint")
    heads: int | None = option(None, "must match the checkpoint")
    norm: str | None = option(None, "must match the checkpoint", choices=NORMS)
    jk: str | None = option(None, "must match the checkpoint", choices=JK_MODES)
    threads: int = option(0, "torch threads per rank (0: cores / ranks)")
    aggregate_at: str = option("receiver", AGGREGATE_HELP, choices=AGGREGATE_AT)
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
    p.set_defaults(handler=run_cli, flags=flags_of(PredictConfig))


def config_from_args(args: argparse.Namespace) -> tuple[PredictConfig, Placement]:
    """The options, checked, and the placement parsed (no torch unless ``--device`` names a GPU)."""
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
    check_threads(cfg.threads, "--threads")
    check_output(cfg.out, cfg.overwrite)
    placement = Placement(cfg.device, cfg.transport)
    placement.check_available()
    if not (Path(cfg.checkpoint) / CHECKPOINT_FILE).is_file():
        raise ValueError(f"--checkpoint {cfg.checkpoint}: there is no {CHECKPOINT_FILE} in it (train with "
                         "`gnnpart train --checkpoint DIR` first)")
    return cfg, placement


def check_before_ranks(cfg: PredictConfig, meta: dict) -> None:
    """What the launcher checks before it starts any rank (``-n``): the checkpoint against the flags given and the
    partition (settings, graph, feature width, the layer of ``--embeddings``), each refusal one line."""
    from gnnpart.checkpoint.compatibility import check_inference
    from gnnpart.infer.outputs import check_layer, type_selection
    from gnnpart.infer.restore import TrainedModel
    from gnnpart.partition.store import graph_identity

    trained = TrainedModel.load(cfg.checkpoint)
    given = {k: getattr(cfg, k) for k in CHECKED_SETTINGS if getattr(cfg, k) is not None}
    check_inference(trained.state, cfg.checkpoint, graph_identity(meta), meta["num_features"], given)
    if cfg.embeddings is not None:
        check_layer(cfg.embeddings, trained.settings["layers"])
    type_selection(meta, cfg.node_type, cfg.embeddings)
    trained.check_aggregate_at(cfg.aggregate_at, meta)


def run(cfg: PredictConfig, placement: Placement, comm=None, printer=print) -> dict:
    """Predict on this rank (inside an MPI job, or alone for a 1-part directory). Returns what was written."""
    import time

    from gnnpart.atomic import terminate_on_signals
    from gnnpart.cli.rank_job import agree, start_rank
    from gnnpart.infer.outputs import predict, type_selection
    from gnnpart.infer.restore import TrainedModel
    from gnnpart.rank.assemble import Rank

    comm, meta, _ = start_rank(cfg.part_dir, comm, cfg.threads)
    start = time.perf_counter()
    trained = TrainedModel.load(cfg.checkpoint)
    given = {k: getattr(cfg, k) for k in CHECKED_SETTINGS if getattr(cfg, k) is not None}
    agree(comm, trained.check_aggregate_at, cfg.aggregate_at, meta)  # a refusal every rank makes, said once
    with Rank.open(cfg.part_dir, comm, placement=placement, aggregate_at=cfg.aggregate_at,
                   **trained.rank_options()) as rank:
        model = trained.build(rank, given, weights=cfg.weights)
        with terminate_on_signals():  # SIGTERM / SIGHUP forwarded by mpiexec: rank 0 removes the temporary
            # a failure to write that every rank agreed on (RowsNotWritten) is reported once, by rank 0 (run_rank)
            path = predict(model, rank, cfg.out, embeddings=cfg.embeddings, probabilities=cfg.probabilities,
                           task=trained.task, node_type=cfg.node_type)
    seconds = time.perf_counter() - start
    if comm.rank == 0:
        what = f"embeddings after layer {cfg.embeddings}" if cfg.embeddings is not None else (
            "probabilities" if cfg.probabilities else "outputs")
        nodes = f"{meta['num_nodes']:,} nodes"
        chosen = type_selection(meta, cfg.node_type, cfg.embeddings)
        if chosen is not None:
            nodes = f"{meta['num_nodes_by_type'][chosen]:,} nodes of type '{meta['node_types'][chosen]}'"
        printer(f"wrote {what} of {nodes} to {path} ({comm.size} ranks, {seconds:.1f} s)")
    return {"out": str(path), "seconds": seconds}


def run_cli(args: argparse.Namespace) -> int:
    cfg, placement = config_from_args(args)
    from gnnpart.cli.launcher import job_size
    from gnnpart.cli.rank_job import dispatch
    from gnnpart.infer.row_file import remove_stale

    launching = cfg.nprocs is not None and job_size() is None
    code = dispatch(cfg.nprocs, cfg.part_dir, list(args.argv), "gnnpart predict",
                    lambda comm: run(cfg, placement, comm, printer=lambda s: print(s, flush=True)),
                    check=lambda meta: check_before_ranks(cfg, meta), flags=flags_of(PredictConfig))
    if code and launching:  # the job failed or was stopped: what its ranks could not remove, the launcher does
        remove_stale(Path(cfg.out))
    return code
