// Schema of gnnpart::csr_from_coo: turn a list of (row, col) pairs into a
// compressed sparse row structure, columns sorted within each row and,
// optionally, duplicates merged. Device kernels live in csrc/data/<device>/.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def(
      "csr_from_coo(Tensor row, Tensor col, int num_rows, int num_cols, bool dedup) "
      "-> (Tensor indptr, Tensor indices)");
}
