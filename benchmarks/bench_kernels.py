"""Benchmark: the CPU kernels of gnnpart._C against PyTorch equivalents, one thread (spmm_sum also two).

- hash_dropout against torch.nn.functional.dropout (ns per element), in cache and on a large tensor;
- pack_rows / unpack_rows_ / scatter_add_rows_ against index_select / index_copy_ / index_add_ (GB/s);
- spmm_sum against torch.sparse.mm on a CSR matrix, widths 16, 64, 256, with 1 and 2 threads;
- the halo codec ops (pack + encode, decode + unpack, top-k, delta selection) against a single-core
  memory copy of the same run (bandwidth = bytes read + bytes written, per second, for every line).

    python benchmarks/bench_kernels.py
"""
import time

import numpy as np
import torch

from gnnpart.comm import codec_ops as codec
from gnnpart.comm import row_ops as rows
from gnnpart import hashing
from gnnpart.nn import kernels


def best_of(fn, repeat=5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"# one thread (spmm_sum: one and two), torch {torch.__version__}")
    for n, width in ((10_000, 128), (1_000_000, 128)):
        x = torch.randn(n, width)
        ids = torch.arange(n)
        ours = best_of(lambda: hashing.hash_dropout(x, ids, 0, 1, 2, 0.5))
        ref = best_of(lambda: torch.nn.functional.dropout(x, 0.5))
        print(f"dropout [{n} x {width}]: hash_dropout {ours / x.numel() * 1e9:.2f} ns/elem, torch {ref / x.numel() * 1e9:.2f} "
              f"ns/elem ({ref / ours:.1f}x)")

    src = torch.randn(1_000_000, 256)
    index = torch.randint(0, src.shape[0], (300_000,))
    moved = index.numel() * src.shape[1] * 4 * 2  # read + write
    packed = rows.pack_rows(src, index)
    copy = best_of(lambda: src[:300_000].clone())
    for name, ours, ref in (
        ("pack_rows", lambda: rows.pack_rows(src, index), lambda: src.index_select(0, index)),
        ("unpack_rows_", lambda: rows.unpack_rows_(src, index, packed), lambda: src.index_copy_(0, index, packed)),
        ("scatter_add_rows_", lambda: rows.scatter_add_rows_(src, index, packed), lambda: src.index_add_(0, index, packed)),
    ):
        a, b = best_of(ours), best_of(ref)
        print(f"{name} [300000 rows x 256]: {moved / a / 1e9:.2f} GB/s, torch {moved / b / 1e9:.2f} GB/s; "
              f"contiguous copy {moved / copy / 1e9:.2f} GB/s")

    spmm()
    torch.set_num_threads(1)
    codecs()


def spmm() -> None:
    """spmm_sum against torch.sparse.mm (MKL) on one CSR, widths 16, 64 and 256, 1 and 2 threads."""
    n, deg = 200_000, 20
    rng = np.random.default_rng(0)
    indptr = torch.arange(0, n * deg + 1, deg)
    indices = torch.from_numpy(np.sort(rng.integers(0, n, (n, deg)), axis=1).reshape(-1))
    adj = torch.sparse_csr_tensor(indptr, indices, torch.ones(n * deg), (n, n))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for width in (16, 64, 256):
            x = torch.randn(n, width)
            ours, ref = best_of(lambda: kernels.spmm_sum(indptr, indices, x)), best_of(lambda: torch.sparse.mm(adj, x))
            print(f"spmm_sum [{n} rows, {n * deg} edges, width {width}], {threads} thread(s): {ours * 1e3:.1f} ms, "
                  f"torch.sparse.mm {ref * 1e3:.1f} ms ({ours / ref:.2f}x its time)")


def codecs() -> None:
    """Halo codec ops on 300,000 rows of 256 float32 gathered from 1M rows, against a memory copy."""
    src = torch.randn(1_000_000, 256)
    index = torch.randint(0, src.shape[0], (300_000,))
    n, width = index.numel(), src.shape[1]
    a, b = torch.empty(n * width), torch.empty(n * width)
    copy = best_of(lambda: b.copy_(a))
    memcpy = 2 * a.numel() * 4 / copy
    print(f"memory copy [{n} x {width} float32]: {memcpy / 1e9:.2f} GB/s (read + write), one core")
    float_rows = n * width * 4

    def line(name, fn, moved):
        t = best_of(fn)
        print(f"  {name:44s} {moved / t / 1e9:6.2f} GB/s = {moved / t / memcpy:.2f} x memory copy "
              f"({float_rows / t / 1e9:.2f} GB/s of float32 rows)")

    packed = rows.pack_rows(src, index)
    line("pack_rows (gather, fresh output)", lambda: rows.pack_rows(src, index), 2 * float_rows)
    kept = torch.empty_like(packed)
    line("pack_rows_into_ (gather, kept buffer)", lambda: rows.pack_rows_into_(src, index, kept), 2 * float_rows)
    line("unpack_rows_ (scatter)", lambda: rows.unpack_rows_(src, index, packed), 2 * float_rows)
    for name, dtype, size in (("fp16", torch.float16, 2), ("bf16", torch.bfloat16, 2), ("int8", torch.int8, 1)):
        stochastic = dtype == torch.int8
        payload, scales = codec.quantize_rows(src, index, dtype, stochastic, 1)
        encoded = n * (width * size + 4)
        line(f"quantize_rows {name} (gather + encode)", lambda: codec.quantize_rows(src, index, dtype, stochastic, 1),
             float_rows + encoded)
        line(f"dequantize_rows_ {name} (decode + scatter)",
             lambda: codec.dequantize_rows_(src, index, payload, scales), float_rows + encoded)
    k = width // 4
    values, channels = codec.topk_rows(src, index, k)
    line(f"topk_rows k={k} (gather + select)", lambda: codec.topk_rows(src, index, k), float_rows + n * k * 8)
    line(f"scatter_channels_ k={k}", lambda: codec.scatter_channels_(src, index, values, channels), 2 * n * k * 8)
    held = src[index].clone()
    line("delta_select_ (nothing moved)", lambda: codec.delta_select_(held, src, index, 0.1), 2 * float_rows)


if __name__ == "__main__":
    main()
