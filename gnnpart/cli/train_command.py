"""``gnnpart train``: train a distributed model on a partition directory, one MPI rank per part.

The options are checked, and the specs (``--halo``, ``--device``, ``--transport``) parsed into objects, before any
rank starts and without torch; with ``-n`` this process then only starts ``mpiexec``. Each rank opens its
:class:`~gnnpart.rank.Rank`, builds the model and the callbacks the flags ask for, and trains.
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

from gnnpart.cli.option_fields import add_options, build_config, flags_of, option
from gnnpart.comm.policy.spec import parse_halo
from gnnpart.comm.sum_plan import AGGREGATE_AT
from gnnpart.comm.transport_choice import TRANSPORTS
from gnnpart.data.labels import TASKS
from gnnpart.limits import check_threads
from gnnpart.nn.names import JK_MODES, MODELS, NORMS
from gnnpart.rank.device import DEVICES, Placement


HALO_HELP = ("halo exchange policy: exact, sample:P, fp16, bf16, int8, topk:R, delta:T, stale:K, learned:L1[:MIN], "
             "composed with + (sample:0.5+int8); one for all layers or one per layer, comma-separated (the grammar: "
             "gnnpart/comm/policy.py)")

AGGREGATE_HELP = ("where GCN, GraphSAGE and GIN add the edges that cross ranks: receiver (every boundary row is sent), "
                  "sender (one partial sum per remote target) or auto (the fewest rows and partial sums: a minimum "
                  "vertex cover per pair of ranks); exact in all three; other layers send rows")


@dataclass
class TrainConfig:
    """The options of ``gnnpart train``; each default and help text is written here once (the parser and its
    help are built from these fields)."""

    part_dir: str = option(help="partition directory (from `gnnpart partition`)", positional=True, metavar="PART_DIR")
    model: str = option("gcn", "model", choices=MODELS)
    hidden: int = option(16, "hidden width")
    layers: int = option(2, "number of layers")
    epochs: int = option(200, "epochs to run in all")
    lr: float = option(0.01, "Adam learning rate")
    weight_decay: float = option(5e-4, "Adam weight decay")
    dropout: float = option(0.5, "dropout between layers")
    input_dropout: float = option(0.0, "dropout on the input features")
    heads: int = option(8, "attention heads of GAT")
    num_bases: int | None = option(None, "basis decomposition of rgcn's relation weights (default: none)",
                                   metavar="B")
    norm: str | None = option(None, "normalisation after each hidden layer: batch (synchronised over the ranks) or layer",
                              choices=NORMS)
    jk: str | None = option(None, "jumping knowledge over the layers' outputs: last, cat or max", choices=JK_MODES)
    residual: bool = option(False, "add each layer's input to its output where the widths agree")
    seed: int = option(0, "seed of the weights, dropout masks and exchange draws")
    eval_every: int = option(1, "evaluate every k epochs")
    patience: int | None = option(None, "stop when the task's main validation metric (accuracy, rocauc, rmse) has not "
                                        "improved for K epochs", metavar="K")
    normalize_features: bool = option(False, "divide each feature row by its sum")
    metrics: str | None = option(None, "write JSON lines, one per epoch, then a final line", metavar="FILE")
    checkpoint: str | None = option(None, "checkpoint folder (written at the end too; `gnnpart predict` reads it)",
                                    metavar="DIR")
    checkpoint_every: int = option(0, "checkpoint every K epochs", metavar="K")
    resume: bool = option(False, "resume from the checkpoint in --checkpoint")
    halo: str = option("exact", HALO_HELP, metavar="SPEC")
    watchdog: float = option(600.0, "end the job when no epoch completes in this many seconds, naming the stuck "
                                    "ranks and what they were doing (0: no watchdog)", metavar="SECONDS")
    threads: int = option(0, "torch threads per rank (0: cores / ranks)")
    no_overlap: bool = option(False, "wait for each halo exchange before aggregating (default: aggregate the inner "
                              "sources while the halo rows travel; the same results)")
    aggregate_at: str = option("receiver", AGGREGATE_HELP, choices=AGGREGATE_AT)
    block_cache: float = option(0.1, "keep freed large CPU blocks for the next tensor of the same size, holding at "
                                     "most 1 + H times what the live ones needed (gnnpart/block_cache.py)", metavar="H")
    no_block_cache: bool = option(False, "leave the block cache off (each epoch's large tensors are then mapped and "
                                         "faulted in afresh)")
    device: str = option("cpu", "where each rank trains: cpu, cuda (the GPU of its node-local rank, modulo the "
                                "GPUs; ranks may share one) or auto (cuda when torch sees a GPU)", choices=DEVICES)
    transport: str = option("mpi", "how GPU tensors travel: mpi (staged through pinned host memory), mpi-cuda "
                                   "(a CUDA-aware MPI) or nccl (one GPU per rank)", choices=TRANSPORTS)
    task: str | None = option(None, "multiclass, multilabel or regression (default: what the labels are; regression "
                                    "also trains on 0/1 targets)", choices=TASKS)
    batch_size: int | None = option(None, "train mini-batch: global batches of B training nodes, neighbours sampled "
                                          "across ranks (needs --fanouts; default: full-graph)", metavar="B")
    fanouts: str | None = option(None, "in-edges sampled per target at each hop, one per layer, comma-separated, from "
                                       "the seeds outwards as PyG's num_neighbors (15,10: 15 of each seed's, then 10 "
                                       "of each of theirs); DGL lists them the other way round", metavar="K,K,...")
    nprocs: int | None = option(None, "start NPROCS ranks with mpiexec (omit when already started by mpiexec)",
                                flags=("-n",), metavar="NPROCS")


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GNN on a partition directory across MPI ranks",
                       description="Train a distributed GNN on PART_DIR with one MPI rank per part.")
    add_options(p, TrainConfig)
    p.set_defaults(handler=run_cli, flags=flags_of(TrainConfig))


FINITE = ("lr", "weight_decay", "dropout", "input_dropout", "watchdog", "block_cache")
"""Float options that must be finite numbers (``nan`` passes a ``>= 0`` check)."""


@dataclass(frozen=True)
class TrainJob:
    """What the options ask for, parsed once: the options, the placement, and one halo policy per layer."""

    config: TrainConfig
    placement: Placement
    halo: list
    fanouts: tuple | None = None


def config_from_args(args: argparse.Namespace) -> TrainJob:
    """The options, checked, and the specs parsed (no torch unless ``--device`` names a GPU, which is checked)."""
    cfg = build_config(TrainConfig, args)
    for name in FINITE:
        if not math.isfinite(getattr(cfg, name)):
            raise ValueError(f"--{name.replace('_', '-')} must be a finite number (got {getattr(cfg, name)})")
    for name in ("hidden", "layers", "epochs", "heads", "eval_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(cfg, name)})")
    if cfg.nprocs is not None and cfg.nprocs < 1:
        raise ValueError(f"--nprocs must be >= 1 (got {cfg.nprocs})")
    if cfg.lr <= 0:
        raise ValueError(f"--lr must be > 0 (got {cfg.lr})")
    for name in ("dropout", "input_dropout"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1) (got {getattr(cfg, name)})")
    if cfg.model == "gat" and cfg.layers > 1 and cfg.hidden % cfg.heads:
        raise ValueError(f"--hidden must be a multiple of --heads for gat (got --hidden {cfg.hidden}, --heads "
                         f"{cfg.heads})")
    if cfg.patience is not None and cfg.patience < 1:
        raise ValueError(f"--patience must be >= 1 (got {cfg.patience})")
    for name in ("checkpoint_every", "threads", "watchdog", "weight_decay", "block_cache"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0 (got {getattr(cfg, name)})")
    check_threads(cfg.threads, "--threads")
    if not 0 <= cfg.seed < 2**63:
        raise ValueError(f"--seed must be an integer in [0, 2**63) (got {cfg.seed})")
    check_outputs(cfg)
    placement = Placement(cfg.device, cfg.transport)
    placement.check_available()
    if cfg.num_bases is not None and (cfg.model != "rgcn" or cfg.num_bases < 1):
        raise ValueError(f"--num-bases applies to --model rgcn only, and must be >= 1 (got --num-bases "
                         f"{cfg.num_bases} with --model {cfg.model})")
    if (cfg.resume or cfg.checkpoint_every) and not cfg.checkpoint:
        raise ValueError("--resume and --checkpoint-every need --checkpoint DIR")
    try:
        halo = parse_halo(cfg.halo, cfg.layers)
    except ValueError as exc:
        raise ValueError(f"--halo: {exc}") from None
    return TrainJob(cfg, placement, halo, check_minibatch_flags(cfg, halo))


def check_minibatch_flags(cfg: TrainConfig, halo: list) -> tuple[int, ...] | None:
    """The fanouts of ``--batch-size B --fanouts K,...`` (None for full-graph training), after refusing, in one line
    each, what mini-batch training cannot do (before any rank starts; the trainer checks the model itself)."""
    if cfg.batch_size is None and cfg.fanouts is None:
        return None
    if cfg.batch_size is None or cfg.fanouts is None:
        given, missing = ("--batch-size", "--fanouts") if cfg.fanouts is None else ("--fanouts", "--batch-size")
        raise ValueError(f"{given} needs {missing}: mini-batch training takes both (e.g. --batch-size 1024 "
                         "--fanouts 15,10)")
    if cfg.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1 (got {cfg.batch_size})")
    try:
        fanouts = tuple(int(k) for k in cfg.fanouts.split(","))
    except ValueError:
        fanouts = ()
    if not fanouts or any(k < 1 for k in fanouts):
        raise ValueError(f"--fanouts must be integers >= 1, comma-separated, one per layer (got {cfg.fanouts!r})")
    if len(fanouts) != cfg.layers:
        raise ValueError(f"--fanouts must give one fanout per layer (--layers {cfg.layers}) (got {len(fanouts)}: "
                         f"{cfg.fanouts})")
    refused = [("--halo", cfg.halo, any(not p.is_exact for p in halo),
                "halo policies act on the rows exchanged between layers, and a mini-batch exchanges none: use exact"),
               ("--aggregate-at", cfg.aggregate_at, cfg.aggregate_at != "receiver",
                "pre-aggregation sums exchanged rows, and a mini-batch exchanges none: use receiver"),
               ("--model", cfg.model, cfg.model == "rgcn", "typed graphs train full-graph"),
               ("--norm", cfg.norm, cfg.norm == "batch",
                "batch norm averages over a batch's rows, which differ by rank: use layer, or none"),
               ("--jk", cfg.jk, cfg.jk is not None,
                "jumping knowledge combines every layer's rows, of other nodes at each layer on sampled blocks")]
    for flag, value, bad, why in refused:
        if bad:
            raise ValueError(f"{flag} {value} cannot train mini-batch (--batch-size): {why}")
    return fanouts


MODEL_SETTINGS = ("model", "hidden", "layers", "heads", "norm", "jk", "residual", "num_bases")
"""Options that shape the model: a checkpoint stores them, and a resume with other values is refused."""


def check_outputs(cfg: TrainConfig) -> None:
    """Refuse, before any rank starts, a metrics file or checkpoint folder that could not be written."""
    if cfg.metrics:
        metrics = Path(cfg.metrics)
        if metrics.is_dir():
            raise ValueError(f"--metrics {metrics} is a directory (expected a file path)")
        parent = metrics.absolute().parent
        if not parent.is_dir():
            raise ValueError(f"--metrics {metrics}: its directory {parent} does not exist")
        if not os.access(parent, os.W_OK) or (metrics.exists() and not os.access(metrics, os.W_OK)):
            raise ValueError(f"--metrics {metrics} is not writable")
    if cfg.checkpoint:
        folder = Path(cfg.checkpoint)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--checkpoint {folder} exists and is not a directory (expected a folder for checkpoint.pt)")
        existing = next(p for p in [folder.absolute(), *folder.absolute().parents] if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise ValueError(f"--checkpoint {folder} cannot be created or written ({existing} is not a writable directory)")
        if cfg.resume and not (folder / "checkpoint.pt").is_file():
            raise ValueError(f"--resume: there is no checkpoint to resume from ({folder / 'checkpoint.pt'} does not exist)")


def check_memory(cfg: TrainConfig, meta: dict, ranks_here: int) -> None:
    """Refuse a model whose weights, optimizer state and activations would not fit (estimated from the options
    and the sizes of the largest part), before building it.

    Per rank: 16 B per parameter (weights, gradients, two Adam moments), 20 B per inner node and hidden channel
    of each hidden layer (its output, activation, dropout and their gradients), 8 B per local node and channel of
    the widest exchanged rows (the rows and their gradients), 32 B per local edge (the CSR, its transpose, each
    edge's target), and GAT's per-edge attention. Calibrated on bench_train.py's 1M-node graph, GCN hidden 256:
    7.3 GiB estimated for 5.27 GiB measured on one rank, 3.1 GiB for 1.86 GiB per rank on four.
    """
    from gnnpart.limits import require_memory

    features, outputs = meta["num_features"], meta["num_outputs"]
    params = parameter_count(cfg, meta)
    parts = meta.get("stats", {}).get("parts") or [{"inner": meta["num_nodes"], "halo": 0, "edges": meta["num_edges"]}]
    heads = cfg.heads if cfg.model == "gat" else 0
    embedded = 16 * cfg.hidden if cfg.model == "rgcn" else 0  # a featureless node's row: weight, gradient, 2 moments

    def rank_bytes(part: dict) -> float:
        inner, local, edges = part["inner"], part["inner"] + part["halo"], part["edges"]
        return (16 * params + 20 * inner * max(cfg.hidden, outputs) * max(cfg.layers - 1, 1)
                + 8 * local * max(features, cfg.hidden) + edges * (32 + 16 * heads) + embedded * inner)

    require_memory(ranks_here * max(rank_bytes(p) for p in parts),
                   f"a {cfg.model} of {cfg.layers} layers with --hidden {cfg.hidden} on {ranks_here} rank(s) here",
                   "lower --hidden or --layers, or use more parts")


def parameter_count(cfg: TrainConfig, meta: dict) -> int:
    """The dense parameters of the model the options build (an upper bound): two maps per layer (GraphSAGE, GIN);
    for ``rgcn``, each type's input map, and per layer a map per relation (or per basis, with their
    coefficients) and the root map."""
    features, outputs = meta["num_features"], meta["num_outputs"]
    if cfg.model != "rgcn":
        widths = [features] + [cfg.hidden] * (cfg.layers - 1) + [outputs]
        return 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    relations = max(1, len(meta.get("relations") or ()))
    maps = relations if cfg.num_bases is None else cfg.num_bases
    coefficients = 0 if cfg.num_bases is None else relations * cfg.num_bases
    widths = [cfg.hidden] * cfg.layers + [outputs]
    layers = sum((maps + 1) * a * b + b + coefficients for a, b in zip(widths[:-1], widths[1:]))
    return layers + sum(w + 1 for w in meta.get("type_widths") or [features]) * cfg.hidden


def check_halo_with_sums(job: TrainJob, meta: dict) -> None:
    """Refuse ``--aggregate-at sender|auto`` with a ``--halo`` term that cannot compose with partial sums on a
    layer that pre-aggregates (the check a rank makes when its trainer starts, made here first). Only when such a
    term is asked for does it build the model, on the CPU, to know its layers."""
    from gnnpart.comm.policy.spec import needs_sums_check

    cfg = job.config
    if cfg.model == "rgcn" or not needs_sums_check(job.halo, cfg.aggregate_at):
        return
    from gnnpart.nn.contract import halo_layers
    from gnnpart.nn.gates import attach_halo_gates
    from gnnpart.nn.local_graph import check_sums_compose
    from gnnpart.nn.models import build_model

    model = build_model(cfg.model, meta["num_features"], cfg.hidden, meta["num_outputs"], cfg.layers, cfg.dropout,
                        cfg.input_dropout, cfg.heads, edge_dim=meta["num_edge_features"], norm=cfg.norm, jk=cfg.jk,
                        residual=cfg.residual)
    check_sums_compose(halo_layers(model), job.halo, attach_halo_gates(model, job.halo), cfg.aggregate_at)


def check_before_ranks(job: TrainJob, meta: dict, ranks_here: int) -> None:
    """What the launcher checks before it starts any rank (and each rank again, agreeing, when it was started by
    another launcher): the memory the model needs, and the halo policies against ``--aggregate-at``."""
    check_memory(job.config, meta, ranks_here)
    check_halo_with_sums(job, meta)


def callbacks_of(cfg: TrainConfig, printer) -> list:
    """The callbacks the flags ask for: the metrics file, the epoch printer, checkpoints, early stopping."""
    from gnnpart.train.callbacks import Checkpointing, EarlyStopping, EpochPrinter, MetricsFile

    made = [EpochPrinter(printer)]
    if cfg.metrics:
        made.insert(0, MetricsFile(cfg.metrics))
    if cfg.checkpoint_every:
        made.append(Checkpointing(cfg.checkpoint, cfg.checkpoint_every))
    if cfg.patience is not None:
        made.append(EarlyStopping(cfg.patience))
    return made


def report_sum_plan(rank, model, printer) -> None:
    """With ``--aggregate-at sender|auto``: rank 0 prints what one exchange of a sum-like layer sends, against
    today's rows, and how long the slowest rank took to plan it, or that ``model`` has no layer that uses the plan
    (every rank calls this)."""
    sums = rank.graph.sums
    if sums is None:
        return
    if not any(getattr(m, "sums_halo", False) for m in model.modules()):
        if rank.comm.rank == 0:
            printer(f"note: --aggregate-at {sums.mode} changes nothing here: no layer of this model adds its cut as a "
                    "sum (GCN, GraphSAGE and GIN do), so every layer sends rows")
        return
    counts = sums.rows()
    rows, partial, today = rank.comm.sum_scalars([counts["rows"], counts["sums"], counts["today_sent"]])
    seconds = rank.comm.max_scalar(rank.sum_plan_s)
    if rank.comm.rank == 0:
        ratio = f" ({(rows + partial) / today:.3f}x)" if today else ""
        printer(f"aggregate at {sums.mode}: an exchange of GCN, GraphSAGE or GIN sends {int(rows):,} rows and "
                f"{int(partial):,} partial sums instead of {int(today):,} rows{ratio}; planned in {seconds:.2f} s")


def run(job: TrainJob, comm=None, printer=print) -> dict:
    """Train on this rank (inside an MPI job, or alone for a 1-part directory). Returns the final summary."""
    import torch

    from gnnpart.cli.rank_job import start_rank
    from gnnpart.nn.models import build_model
    from gnnpart.rank.assemble import Rank
    from gnnpart.train.callbacks import truncate_metrics
    from gnnpart.train.options import TrainOptions
    from gnnpart.train.trainer import Trainer

    from gnnpart.cli.rank_job import agree

    cfg = job.config
    comm, meta, threads = start_rank(cfg.part_dir, comm, cfg.threads)
    agree(comm, check_before_ranks, job, meta, 1)  # a refusal every rank makes is said once, by rank 0
    rank = Rank.open(cfg.part_dir, comm, placement=job.placement, normalize_features=cfg.normalize_features,
                     task=cfg.task, overlap=not cfg.no_overlap, aggregate_at=cfg.aggregate_at)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, meta["num_features"], cfg.hidden, meta["num_outputs"], cfg.layers,
                        cfg.dropout, cfg.input_dropout, cfg.heads, edge_dim=meta["num_edge_features"], norm=cfg.norm,
                        jk=cfg.jk, residual=cfg.residual, graph=rank.graph, num_bases=cfg.num_bases, seed=cfg.seed)
    report_sum_plan(rank, model, printer)
    if cfg.metrics and comm.rank == 0 and not cfg.resume and os.path.exists(cfg.metrics):
        os.remove(cfg.metrics)
    options = TrainOptions(lr=cfg.lr, weight_decay=cfg.weight_decay, seed=cfg.seed, eval_every=cfg.eval_every,
                           watchdog=cfg.watchdog or None, block_cache=None if cfg.no_block_cache else cfg.block_cache,
                           batch_size=cfg.batch_size, fanouts=job.fanouts)
    trainer = Trainer(model, rank, options=options, halo=job.halo, callbacks=callbacks_of(cfg, printer),
                      settings={k: getattr(cfg, k) for k in MODEL_SETTINGS})
    if cfg.resume:
        trainer.load_checkpoint(cfg.checkpoint)
        saved_lr = trainer.optimizer.param_groups[0]["lr"]
        if saved_lr != cfg.lr:  # the new rate applies from here on
            for group in trainer.optimizer.param_groups:
                group["lr"] = cfg.lr
            if comm.rank == 0:
                printer(f"warning: resuming with --lr {cfg.lr:g}; the checkpoint trained with {saved_lr:g}")
        if comm.rank == 0:
            if cfg.metrics:
                truncate_metrics(cfg.metrics, trainer.epoch)
            printer(f"resumed from {cfg.checkpoint} at epoch {trainer.epoch}")
    if comm.rank == 0:
        where = f"{threads} threads" if trainer.device.type == "cpu" else f"cuda ({cfg.transport})"
        printer(f"training {cfg.model} on {meta['dataset']}: {comm.size} ranks x {where}, "
                f"{meta['num_nodes']:,} nodes, {meta['num_edges']:,} edges")
    try:
        history = trainer.fit(cfg.epochs, restore_best=False)
        if cfg.checkpoint:  # the last epoch's state, with the best epoch's weights inside: what predict reads
            trainer.save_checkpoint(cfg.checkpoint)
    finally:
        rank.close()  # an NCCL group is destroyed before the process ends
    if trainer.best.state is not None:
        trainer.model.load_state_dict(trainer.best.state)
    total = sum(r.epoch_s for r in history)
    sent, exact = sum(r.halo_bytes for r in history), sum(r.halo_bytes_exact for r in history)
    best = trainer.best
    summary = {"best_val_acc": best.val_acc, "best_epoch": best.epoch, "test_acc": best.test_acc,
               "metric": best.metric, "best_val_score": best.val_score, "test_score": best.test_score,
               "train_s": total, "epochs": trainer.epoch, "halo_bytes": sent, "halo_bytes_exact": exact}
    if comm.rank == 0:
        def fmt(v):
            return "-" if v is None else f"{v:.4f}"

        printer(f"done: best val {best.metric} {fmt(best.val_score)} at epoch {best.epoch}, "
                f"test {best.metric} {fmt(best.test_score)}; {total:.1f} s of training")
        if history and exact:
            how = cfg.halo + ("" if cfg.aggregate_at == "receiver" else f", aggregated at {cfg.aggregate_at}")
            printer(f"halo traffic ({how}): {sent / len(history) / 2**20:.3f} MiB per epoch, "
                    f"{sent / exact:.4f}x exact ({exact / max(sent, 1):.1f}x fewer bytes)")
    return summary


def run_cli(args: argparse.Namespace) -> int:
    job = config_from_args(args)
    from gnnpart.cli.rank_job import dispatch

    cfg = job.config
    return dispatch(cfg.nprocs, cfg.part_dir, list(args.argv), "gnnpart train",
                    lambda comm: run(job, comm, printer=lambda s: print(s, flush=True)),
                    check=lambda meta: check_before_ranks(job, meta, cfg.nprocs), flags=flags_of(TrainConfig))
