// Schema of gnnpart::spmm_sum: out[r] = sum of x[indices[e]] over the entries e of CSR row r.
// The sparse product of GCN, GraphSAGE and GIN aggregation (no message per edge is built).
// Kernel: csrc/nn/cpu/spmm_kernel.cpp (on CUDA, gnnpart.nn falls back to torch.sparse).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(gnnpart, m) { m.def("spmm_sum(Tensor indptr, Tensor indices, Tensor x) -> Tensor"); }
