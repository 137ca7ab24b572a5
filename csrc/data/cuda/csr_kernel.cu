// CUDA kernel of gnnpart::csr_from_coo (schema: csrc/data/csr.cpp), built from ATen's device primitives:
// sort the edges by the key row * num_cols + col, drop repeated keys when merging, count the rows with a
// histogram and scan it. The result equals the CPU kernel's: columns ascending in each row, duplicates merged
// with `dedup`. The same argument checks as on the CPU.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <limits>

#include "common/index_range.h"
#include "data/csr_checks.h"

namespace gnnpart {
namespace {

std::tuple<at::Tensor, at::Tensor> csr_from_coo_cuda(const at::Tensor& row_in, const at::Tensor& col_in,
                                                     int64_t num_rows, int64_t num_cols, bool dedup) {
  const c10::cuda::CUDAGuard device_guard(row_in.device());  // launch on the tensors' GPU
  check_csr_from_coo(row_in, col_in, num_rows, num_cols);
  // the sort key row * num_cols + col is the GPU kernel's own limit
  TORCH_CHECK(num_cols == 0 || num_rows <= std::numeric_limits<int64_t>::max() / std::max<int64_t>(num_cols, 1),
              "csr_from_coo: num_rows * num_cols must fit in int64 on CUDA (got ", num_rows, " x ", num_cols, ")");
  check_entries_below("csr_from_coo", "row", row_in, num_rows);
  check_entries_below("csr_from_coo", "col", col_in, num_cols);
  at::Tensor key = row_in * num_cols + col_in;
  key = std::get<0>(at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  if (dedup) key = std::get<0>(at::unique_consecutive(key, false, false, 0));
  at::Tensor rows = num_cols > 0 ? at::div(key, num_cols, "floor") : key;
  at::Tensor indices = num_cols > 0 ? key - rows * num_cols : key;
  at::Tensor counts = at::bincount(rows, {}, num_rows);
  at::Tensor indptr = at::zeros({num_rows + 1}, row_in.options());
  if (num_rows > 0) indptr.narrow(0, 1, num_rows).copy_(at::cumsum(counts.narrow(0, 0, num_rows), 0));
  return {indptr, indices.contiguous()};
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CUDA, m) { m.impl("csr_from_coo", &csr_from_coo_cuda); }

}  // namespace gnnpart
