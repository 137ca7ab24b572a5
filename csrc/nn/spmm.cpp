// Schema of gnnpart::spmm_sum: out[r] = sum of x[indices[e]] over the entries e of CSR row r, added in CSR order
// (a fixed per-row order, on every device, so results do not depend on how the graph is partitioned).
// The sparse product of GCN, GraphSAGE and GIN aggregation (no message per edge is built).
// `t_indptr` / `t_indices` (optional) are the transposed CSR: the backward pass (gnnpart/nn/kernels.py,
// torch.library.register_autograd) is spmm_sum over them. Kernels: csrc/nn/cpu/, csrc/nn/cuda/.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def("spmm_sum(Tensor indptr, Tensor indices, Tensor x, Tensor? t_indptr=None, Tensor? t_indices=None) -> Tensor");
}
