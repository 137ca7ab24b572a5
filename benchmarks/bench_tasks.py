"""Benchmark: multi-label training and full-graph inference.

1. Multi-label: a synthetic graph of 100k nodes with 64 binary tasks (``task=multilabel:64``), partitioned into
   4 parts, a 2-layer GCN trained on 4 ranks with ``gnnpart train``: ROC-AUC (validation, and test at the best
   validation epoch), micro-F1, and the median time of a training epoch and of an evaluation.
2. Inference: the 1M-node / 20M-edge graph of bench_train.py, 4 parts, a GCN of hidden 256 trained for one epoch
   with a checkpoint; then ``gnnpart predict`` on 4 ranks, writing the outputs (16 wide) and the embeddings after
   layer 0 (256 wide): wall time and every rank's peak memory (VmHWM), beside the setup, epoch time and peak of
   training the same model (bench_train.py's worker) in the same run.

    python benchmarks/bench_tasks.py                                   # both parts (about 10 minutes here)
    python benchmarks/bench_tasks.py --nodes 20000 --predict-nodes 100000 --epochs 20
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import spawn, vmhwm  # noqa: E402


def predict_child(part_dir: str, checkpoint: str, out: str, embeddings: str) -> None:
    """One rank of ``gnnpart predict`` (the command's own ``run``); rank 0 prints the time and every rank's peak
    memory as one JSON line."""
    from gnnpart.cli.predict_command import PredictConfig, run
    from gnnpart.comm import Communicator
    from gnnpart.rank import Placement

    comm = Communicator()
    cfg = PredictConfig(part_dir=part_dir, checkpoint=checkpoint, out=out, threads=1,
                        embeddings=None if embeddings == "none" else int(embeddings))
    start = time.perf_counter()
    run(cfg, Placement(), comm, printer=lambda s: None)
    seconds = time.perf_counter() - start
    peaks = comm.comm.gather(vmhwm(), root=0)
    if comm.rank == 0:
        print(json.dumps({"seconds": seconds, "peak_gib": [p / 2**30 for p in peaks],
                          "file_gib": os.path.getsize(out) / 2**30}), flush=True)


def gnnpart_cli(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", "gnnpart", "-q", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        sys.exit(f"gnnpart {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def multilabel(tmp: Path, args) -> None:
    import gnnpart

    spec = f"synthetic:nodes={args.nodes},degree=10,classes=16,features=64,task=multilabel:{args.tasks},seed=0"
    graph = gnnpart.load(spec)
    gnnpart.partition_graph(graph, args.ranks, tmp / "ml")
    del graph
    metrics = tmp / "ml.jsonl"
    gnnpart_cli("train", tmp / "ml", "-n", args.ranks, "--hidden", 128, "--epochs", args.epochs, "--eval-every", 5,
                "--lr", 0.01, "--dropout", 0.2, "--threads", 1, "--metrics", metrics)
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    epochs, final = [r for r in lines if not r.get("final")], lines[-1]
    best = next(r for r in epochs if r["epoch"] == final["best_epoch"])
    print(f"# {spec}; GCN 2 layers, hidden 128, {args.epochs} epochs, {args.ranks} ranks x 1 thread")
    print(f"multilabel: best val rocauc {final['best_val_score']:.4f} at epoch {final['best_epoch']}, test rocauc "
          f"{final['test_score']:.4f}, test micro-F1 {best['metrics']['test']['micro_f1']:.4f}; epoch "
          f"{statistics.median(r['epoch_s'] for r in epochs[1:]) * 1000:.0f} ms (median), evaluation "
          f"{statistics.median(r['eval_s'] for r in epochs if r['eval_s']) * 1000:.0f} ms (median, ROC-AUC of "
          f"{args.tasks} tasks on 3 splits included)", flush=True)


def inference(tmp: Path, args) -> None:
    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    spec = f"synthetic:nodes={args.predict_nodes},degree=20,classes=16,features=128"
    start = time.perf_counter()
    graph = gnnpart.load(spec)
    gnnpart.partition_graph(graph, args.ranks, tmp / "big")
    del graph
    print(f"# {spec}: generated and partitioned into {args.ranks} parts in {time.perf_counter() - start:.0f} s",
          flush=True)
    gnnpart_cli("train", tmp / "big", "-n", args.ranks, "--hidden", 256, "--epochs", 1, "--threads", 1,
                "--checkpoint", tmp / "ck")
    train = spawn(mpiexec_command(args.ranks, [str(Path(__file__).parent / "bench_train.py"), "--child", "gnnpart",
                                               str(tmp / "big"), "gcn", "256", "1"]), 1)
    print(f"for comparison, training epochs of the same GCN, {args.ranks} ranks x 1 thread: setup "
          f"{train['setup_s']:.1f} s, epoch {train['epoch_s']:.1f} s, peak per rank {max(train['peak_gib']):.2f} GiB",
          flush=True)
    for embeddings, what in (("none", "outputs [N, 16]"), ("0", "embeddings after layer 0 [N, 256]")):
        out = tmp / f"pred-{embeddings}.npy"
        cmd = mpiexec_command(args.ranks, [__file__, "--child", str(tmp / "big"), str(tmp / "ck"), str(out), embeddings])
        res = spawn(cmd, 1)
        print(f"predict {what}, {args.ranks} ranks x 1 thread: {res['seconds']:.1f} s (partition load, model, exact "
              f"exchange, write), peak per rank {max(res['peak_gib']):.2f} GiB "
              f"({', '.join(f'{p:.2f}' for p in res['peak_gib'])}), file {res['file_gib']:.2f} GiB", flush=True)
        out.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--predict-nodes", type=int, default=1_000_000)
    parser.add_argument("--skip", choices=("multilabel", "predict"), help="leave one part out")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        predict_child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="gnnpart-tasks-bench-") as tmp:
        if args.skip != "multilabel":
            multilabel(Path(tmp), args)
        if args.skip != "predict":
            inference(Path(tmp), args)


if __name__ == "__main__":
    main()
