// Input checks of the sampler's kernels (csrc/sampling/sample.cpp): one message per rule, naming the op and the
// argument.
#pragma once
#include <ATen/ATen.h>

namespace gnnpart {

inline void check_long_vector(const char* op, const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 1, op, ": `", name, "` must be 1-D (got ", t.dim(), " dims)");
  TORCH_CHECK(t.scalar_type() == at::kLong, op, ": `", name, "` must be int64 (got ", t.scalar_type(), ")");
  TORCH_CHECK(t.is_cpu(), op, ": `", name, "` must be on the CPU (got ", t.device(), ")");
}

inline void check_sample_neighbors(const at::Tensor& indptr, const at::Tensor& edge_gids, const at::Tensor& rows,
                                   const at::Tensor& row_gids, int64_t fanout) {
  const char* op = "sample_neighbors";
  check_long_vector(op, indptr, "indptr");
  check_long_vector(op, edge_gids, "edge_gids");
  check_long_vector(op, rows, "rows");
  check_long_vector(op, row_gids, "row_gids");
  TORCH_CHECK(indptr.numel() >= 1, op, ": `indptr` must have at least one entry");
  TORCH_CHECK(rows.numel() == row_gids.numel(), op, ": `row_gids` must give one global id per row (", rows.numel(),
              ") (got ", row_gids.numel(), ")");
  TORCH_CHECK(fanout >= 1, op, ": `fanout` must be >= 1 (got ", fanout, ")");
}

}  // namespace gnnpart
