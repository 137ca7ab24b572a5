// Schemas of gnnpart::hash_dropout: dropout whose mask is a counter-based hash of
// (seed, epoch, layer, global node id, channel), so that it does not depend on
// how the graph is partitioned: N ranks and one rank draw the same mask; and of
// gnnpart::hash_dropout_relu, the same dropout of relu(x) in one pass, and of relu_dropout_grad, its backward.
// Kernels: csrc/hashing/cpu/dropout_kernel.cpp, csrc/hashing/cuda/dropout_kernel.cu.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def("hash_dropout(Tensor x, Tensor ids, int seed, int epoch, int layer, float p) -> Tensor");
  m.def("hash_dropout_relu(Tensor x, Tensor ids, int seed, int epoch, int layer, float p) -> Tensor");
  // hash_dropout_relu's backward: grad * scale where out > 0 (not where out <= 0, so NaN passes, as
  // threshold_backward lets it), in one pass (CPU; elsewhere gnnpart.hashing composes it from aten ops)
  m.def("relu_dropout_grad(Tensor grad, Tensor out, float scale) -> Tensor");
}
