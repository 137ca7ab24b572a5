// Schemas of the mini-batch sampler's kernels (gnnpart/sample/):
//
// * sample_neighbors: for each target row of a CSR of in-edges (each edge given by its source's global id), the
//   `fanout` in-edges whose sources have the smallest hash of (key, the target's global id, the source's global
//   id): uniform and without replacement, every edge when the row is no longer than `fanout`. The hash depends on global ids only, so any rank that
//   samples a node draws the same neighbours (csrc/hashing/hash.h, the hash of the dropout masks).
// * block_sources: the sources of a block, the targets first and then each node sampled for them in the order
//   it first appears, each once; and every sampled edge's source as a position among them.
//
// Kernels: csrc/sampling/cpu/sample_kernel.cpp (the sampler runs beside MPI on the host; a GPU gets the blocks).
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def(
      "sample_neighbors(Tensor indptr, Tensor edge_gids, Tensor rows, Tensor row_gids, int fanout, int key) "
      "-> (Tensor counts, Tensor edges)");
  m.def("block_sources(Tensor targets, Tensor sampled) -> (Tensor sources, Tensor cols, Tensor first)");
}
