// Schemas of gnnpart::spmm_sum and gnnpart::spmm_sum_add_.
// spmm_sum: out[r] = sum of x[indices[e]] over the entries e of CSR row r, added in CSR order (a fixed
// per-row order, on every device and thread count, so the same CSR gives the same bits everywhere).
// The sparse product of GCN, GraphSAGE and GIN aggregation (no message per edge is built).
// `t_indptr` / `t_indices` (optional) are the transposed CSR: the backward pass (gnnpart/nn/kernels.py,
// torch.library.register_autograd) is spmm_sum over them.
// spmm_sum_add_(out, begin, end, indices, x, offset): out[r] += x[indices[e] - offset] for e from begin[r] to
// end[r] - 1, in that order, onto out's values (not differentiable; the overlapped halo aggregation in
// gnnpart/nn/overlap.py adds a row's inner-source edges, then its halo-source edges when they land).
// Kernels: csrc/nn/cpu/, csrc/nn/cuda/.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def("spmm_sum_add_(Tensor(a!) out, Tensor begin, Tensor end, Tensor indices, Tensor x, int offset=0) -> ()");
  m.def("spmm_sum(Tensor indptr, Tensor indices, Tensor x, Tensor? t_indptr=None, Tensor? t_indices=None) -> Tensor");
}
