// Input checks of gnnpart::csr_from_coo, shared by its CPU and CUDA kernels (same rules, same messages; the
// range of the ids is checked by each kernel as it reads them, common/index_range.h on a GPU).
#pragma once
#include <ATen/ATen.h>

namespace gnnpart {

inline void check_coo_ids(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 1, "csr_from_coo: `", name, "` must be 1-D (got ", t.dim(), " dims)");
  TORCH_CHECK(t.scalar_type() == at::kLong, "csr_from_coo: `", name, "` must be int64 (got ", t.scalar_type(), ")");
}

inline void check_csr_from_coo(const at::Tensor& row, const at::Tensor& col, int64_t num_rows, int64_t num_cols) {
  check_coo_ids(row, "row");
  check_coo_ids(col, "col");
  TORCH_CHECK(row.device() == col.device(), "csr_from_coo: `row` and `col` must be on one device (got ", row.device(),
              " and ", col.device(), ")");
  TORCH_CHECK(row.numel() == col.numel(), "csr_from_coo: `row` and `col` must have the same length (got ",
              row.numel(), " and ", col.numel(), ")");
  TORCH_CHECK(num_rows >= 0, "csr_from_coo: `num_rows` must be >= 0 (got ", num_rows, ")");
  TORCH_CHECK(num_cols >= 0, "csr_from_coo: `num_cols` must be >= 0 (got ", num_cols, ")");
}

}  // namespace gnnpart
