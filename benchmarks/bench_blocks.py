"""Benchmark: a one-rank epoch against its building blocks, the dense products and the aggregation alone (issue 29).

For GCN and GraphSAGE as bench_train.py and bench_dgl.py train them (2 layers, 128 -> 256 -> 16, dropout 0.5
between the layers, none on the input, Adam), on the synthetic 1M-node / 20M-edge graph by default, one rank x
``--threads`` threads, this prints:

- each building block of one training step, timed alone with its output allocated beforehand (median of
  ``--reps`` calls): the products of both layers forward and backward (the weight gradients; the input gradient
  of the second layer), and the 16-wide aggregation forward and backward (``spmm_sum``, the CSR and its
  transpose). The first layer's aggregation is cached (its input is constant), so it is not a block of the step;
- their sum, the median epoch of gnnpart's Trainer on a one-part partition of the same graph, and the ratio
  epoch / blocks. What the ratio holds above 1: the ReLU-dropout pass and its backward, the loss on the training
  rows, the optimizer step, autograd.

    python benchmarks/bench_blocks.py                          # about 3 minutes here
    python benchmarks/bench_blocks.py --nodes 100000 --epochs 3
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn, reps: int) -> float:
    """Median seconds of ``fn()`` over ``reps`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def blocks(model: str, x, agg, csr, csr_t, hidden: int, classes: int, reps: int) -> list[tuple[str, float]]:
    """``(name, seconds)`` of each building block of one step of ``model``."""
    import torch

    from gnnpart.nn.kernels import spmm_sum

    n, f = x.shape
    g = torch.Generator().manual_seed(0)
    w1 = torch.randn(hidden, f, generator=g)
    w1r = torch.randn(hidden, f, generator=g)
    h = torch.randn(n, hidden, generator=g)
    grad1 = torch.randn(n, hidden, generator=g)
    out1 = torch.empty(n, hidden)
    gw = torch.empty(hidden, f)
    wide = 2 * classes if model == "sage" else classes  # GraphSAGE's second layer: [W_l | W_r] in one product
    w2 = torch.randn(wide, hidden, generator=g)
    out2 = torch.empty(n, wide)
    grad2 = torch.randn(n, wide, generator=g)
    gh = torch.empty(n, hidden)
    gw2 = torch.empty(wide, hidden)
    small = torch.randn(n, classes, generator=g)
    rows = [("layer 1 forward: agg @ W" + (" + x @ W_r" if model == "sage" else ""),
             timed(lambda: (torch.mm(agg, w1.t(), out=out1), out1.addmm_(x, w1r.t()) if model == "sage" else None), reps)),
            ("layer 1 backward: weight gradient" + ("s" if model == "sage" else ""),
             timed(lambda: (torch.mm(grad1.t(), agg, out=gw), torch.mm(grad1.t(), x, out=gw) if model == "sage" else None),
                   reps)),
            (f"layer 2 forward: h @ W ({wide} wide)", timed(lambda: torch.mm(h, w2.t(), out=out2), reps)),
            ("layer 2 backward: input and weight gradients",
             timed(lambda: (torch.mm(grad2, w2, out=gh), torch.mm(grad2.t(), h, out=gw2)), reps)),
            (f"aggregation forward ({classes} wide)", timed(lambda: spmm_sum(*csr, small), reps)),
            (f"aggregation backward ({classes} wide)", timed(lambda: spmm_sum(*csr_t, small), reps))]
    return rows


def epoch(part_dir: str, model: str, hidden: int, epochs: int) -> float:
    """Median epoch of gnnpart's Trainer on the one-part partition."""
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    rank = Rank.open(part_dir, Communicator())
    torch.manual_seed(0)
    net = build_model(model, rank.meta["num_features"], hidden, rank.meta["num_classes"], 2, dropout=0.5,
                      input_dropout=0.0)
    trainer = Trainer(net, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, eval_every=10**9, watchdog=None))
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        trainer.train_step()
        trainer.epoch += 1
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (after one warm-up)")
    parser.add_argument("--reps", type=int, default=5, help="timed calls of each block (after one warm-up)")
    parser.add_argument("--models", default="sage,gcn")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    import gnnpart
    from gnnpart.data.csr import coo_to_csr
    from gnnpart.block_cache import cache_blocks
    from gnnpart.nn.kernels import spmm_sum

    torch.set_num_threads(args.threads)
    cache_blocks()  # as the Trainer runs: the blocks' own temporaries are not faulted in afresh either
    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"
    graph = gnnpart.load(spec)
    indptr, indices = torch.from_numpy(graph.indptr), torch.from_numpy(graph.indices)
    dst = torch.repeat_interleave(torch.arange(graph.num_nodes), indptr.diff())
    t_indptr, t_indices = (torch.as_tensor(a) for a in coo_to_csr(indices.numpy(), dst.numpy(), graph.num_nodes,
                                                                  dedup=False))
    x = torch.from_numpy(graph.x).float()
    agg = spmm_sum(indptr, indices, x)
    classes = int(graph.y.max()) + 1
    with tempfile.TemporaryDirectory(prefix="gnnpart-blocks-") as tmp:
        part_dir = str(Path(tmp) / "parts-1")
        gnnpart.partition_graph(graph, 1, part_dir)
        del graph
        print(f"# {spec}; 1 rank x {args.threads} threads; 2 layers, hidden {args.hidden}; torch {torch.__version__}")
        for model in args.models.split(","):
            rows = blocks(model, x, agg, (indptr, indices), (t_indptr, t_indices), args.hidden, classes, args.reps)
            total = sum(s for _, s in rows)
            ep = epoch(part_dir, model, args.hidden, args.epochs)
            print(f"\n## {model}\n\n| building block | s |\n| --- | --- |")
            for name, s in rows:
                print(f"| {name} | {s:.3f} |")
            print(f"| **sum of the blocks** | **{total:.3f}** |")
            print(f"| gnnpart epoch (median of {args.epochs}) | {ep:.3f} |")
            print(f"| **epoch / blocks** | **{ep / total:.2f}** |", flush=True)


if __name__ == "__main__":
    main()
