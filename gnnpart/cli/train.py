"""``gnnpart train``: train a distributed model on a partition directory, one MPI rank per part."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass

from gnnpart.nn.models import MODELS


@dataclass
class TrainConfig:
    part_dir: str
    model: str = "gcn"
    hidden: int = 16
    layers: int = 2
    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    dropout: float = 0.5
    input_dropout: float = 0.0
    heads: int = 8
    seed: int = 0
    eval_every: int = 1
    normalize_features: bool = False
    metrics: str | None = None
    checkpoint: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    threads: int = 0
    nprocs: int | None = None
    halo: str = "exact"


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GNN on a partition directory across MPI ranks",
                       description="Train a distributed GNN on PART_DIR with one MPI rank per part.")
    p.add_argument("part_dir", metavar="PART_DIR", help="partition directory (from `gnnpart partition`)")
    p.add_argument("--model", choices=MODELS, default="gcn", help="model (default gcn)")
    p.add_argument("--hidden", type=int, default=16, help="hidden width (default 16)")
    p.add_argument("--layers", type=int, default=2, help="number of layers (default 2)")
    p.add_argument("--epochs", type=int, default=200, help="epochs to run in all (default 200)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="Adam weight decay (default 5e-4)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout between layers (default 0.5)")
    p.add_argument("--input-dropout", type=float, default=0.0, help="dropout on the input features (default 0)")
    p.add_argument("--heads", type=int, default=8, help="attention heads of GAT's hidden layers (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and dropout masks (default 0)")
    p.add_argument("--eval-every", type=int, default=1, help="evaluate every k epochs (default 1)")
    p.add_argument("--normalize-features", action="store_true", help="divide each feature row by its sum")
    p.add_argument("--metrics", metavar="FILE", help="write JSON lines, one per epoch, then a final line")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint folder")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="K", help="checkpoint every K epochs")
    p.add_argument("--resume", action="store_true", help="resume from the checkpoint in --checkpoint")
    p.add_argument("--halo", default="exact", metavar="SPEC",
                   help="halo exchange policy: exact (default), sample:P, fp16, bf16, int8, topk:R, delta:T, stale:K, "
                        "learned:L1[:MIN], composed with + (sample:0.5+int8); one for all layers or one per layer, "
                        "comma-separated")
    p.add_argument("--threads", type=int, default=0, help="torch threads per rank (default: cores / ranks)")
    p.add_argument("-n", "--nprocs", type=int, metavar="NPROCS",
                   help="start NPROCS ranks with mpiexec (omit when already started by mpiexec)")
    p.set_defaults(handler=run_cli)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig(**{k: getattr(args, k) for k in TrainConfig.__dataclass_fields__})
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
    if (cfg.resume or cfg.checkpoint_every) and not cfg.checkpoint:
        raise ValueError("--resume and --checkpoint-every need --checkpoint DIR")
    from gnnpart.comm.policy import parse_halo

    try:
        parse_halo(cfg.halo, cfg.layers)
    except ValueError as exc:
        raise ValueError(f"--halo: {exc}") from None
    return cfg


def _launch(cfg: TrainConfig, argv: list[str]) -> int:
    """Re-run this command under ``mpiexec -n NPROCS`` (without ``-n``) and return its exit status."""
    from gnnpart.partition import read_meta
    from gnnpart.train.launcher import mpiexec_command

    meta = read_meta(cfg.part_dir)
    if cfg.nprocs != meta["num_parts"]:
        raise ValueError(f"-n must equal the number of parts of {cfg.part_dir} ({meta['num_parts']}) (got {cfg.nprocs})")
    inner = _strip_nprocs(argv)
    cmd = mpiexec_command(cfg.nprocs, ["-m", "gnnpart", *inner])
    env = dict(os.environ, GNNPART_LAUNCHED="1")
    return subprocess.run(cmd, env=env).returncode


def _strip_nprocs(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("-n", "--nprocs"):
            skip = True
            continue
        if a.startswith("--nprocs=") or (a.startswith("-n") and a[2:].isdigit()):
            continue
        out.append(a)
    return out


def run(cfg: TrainConfig, comm=None, printer=print) -> dict:
    """Train on this rank (inside an MPI job, or alone for a 1-part directory). Returns the final summary."""
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.partition import load_partition, read_meta
    from gnnpart.train import Trainer

    comm = comm or Communicator()
    meta = read_meta(cfg.part_dir)
    if comm.size != meta["num_parts"]:
        raise ValueError(f"the number of ranks ({comm.size}) must equal the number of parts of {cfg.part_dir} "
                         f"({meta['num_parts']}): run with -n {meta['num_parts']}")
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // comm.size)
    torch.set_num_threads(threads)
    part = load_partition(cfg.part_dir, comm.rank)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, meta["num_features"], cfg.hidden, meta["num_classes"], cfg.layers,
                        cfg.dropout, cfg.input_dropout, cfg.heads)
    if cfg.metrics and comm.rank == 0 and not cfg.resume and os.path.exists(cfg.metrics):
        os.remove(cfg.metrics)
    trainer = Trainer(model, part, comm, lr=cfg.lr, weight_decay=cfg.weight_decay, seed=cfg.seed,
                      eval_every=cfg.eval_every, normalize_features=cfg.normalize_features, metrics_file=cfg.metrics,
                      checkpoint_dir=cfg.checkpoint, checkpoint_every=cfg.checkpoint_every, printer=printer,
                      halo=cfg.halo)
    if cfg.resume:
        trainer.load_checkpoint(cfg.checkpoint)
        if comm.rank == 0:
            printer(f"resumed from {cfg.checkpoint} at epoch {trainer.epoch}")
    if comm.rank == 0:
        printer(f"training {cfg.model} on {meta['dataset']}: {comm.size} ranks x {threads} threads, "
                f"{meta['num_nodes']:,} nodes, {meta['num_edges']:,} edges")
    history = trainer.fit(cfg.epochs)
    total = sum(r.epoch_s for r in history)
    sent, exact = sum(r.halo_bytes for r in history), sum(r.halo_bytes_exact for r in history)
    summary = {"best_val_acc": trainer.best["val_acc"], "best_epoch": trainer.best["epoch"],
               "test_acc": trainer.best["test_acc"], "train_s": total, "epochs": trainer.epoch,
               "halo_bytes": sent, "halo_bytes_exact": exact}
    if comm.rank == 0:
        printer(f"done: best val acc {summary['best_val_acc']:.4f} at epoch {summary['best_epoch']}, "
                f"test acc {summary['test_acc']:.4f}; {total:.1f} s of training")
        if history and exact:
            printer(f"halo traffic ({cfg.halo}): {sent / len(history) / 2**20:.3f} MiB per epoch, "
                    f"{sent / exact:.4f}x exact ({exact / max(sent, 1):.1f}x fewer bytes)")
    return summary


def run_cli(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    from gnnpart.train.launcher import job_size

    size = job_size()
    if cfg.nprocs is not None and size is None:
        return _launch(cfg, list(args.argv))
    if cfg.nprocs is not None and size != cfg.nprocs:
        raise ValueError(f"-n {cfg.nprocs} does not match the MPI job this runs in ({size} ranks)")
    if size is None or size == 1:
        run(cfg, printer=lambda s: print(s, flush=True))
        return 0
    return _run_rank(cfg)


def _run_rank(cfg: TrainConfig) -> int:
    """Run one rank of a job; any error on any rank aborts the whole job at once."""
    from gnnpart.comm import Communicator

    comm = Communicator()
    try:
        run(cfg, comm, printer=lambda s: print(s, flush=True))
    except BaseException as exc:  # noqa: BLE001 - every failure must end the job, not hang it
        print(f"gnnpart train: rank {comm.rank}: error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        comm.abort(1)
    return 0
