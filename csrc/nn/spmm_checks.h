// Input checks of gnnpart::spmm_sum, shared by its CPU and CUDA kernels (same rules, same messages).
#pragma once
#include <ATen/ATen.h>

#include "common/index_range.h"

namespace gnnpart {

inline void check_spmm(const at::Tensor& indptr, const at::Tensor& indices, const at::Tensor& x) {
  TORCH_CHECK(indptr.dim() == 1 && indptr.scalar_type() == at::kLong && indptr.numel() >= 1,
              "spmm_sum: `indptr` must be a non-empty 1-D int64 tensor");
  TORCH_CHECK(indices.dim() == 1 && indices.scalar_type() == at::kLong, "spmm_sum: `indices` must be 1-D int64");
  TORCH_CHECK(x.dim() == 2, "spmm_sum: `x` must be 2-D [num_cols, width] (got ", x.dim(), " dims)");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "spmm_sum: `x` must be float32 or float64 (got ", x.scalar_type(), ")");
  TORCH_CHECK(indptr.device() == x.device() && indices.device() == x.device(), "spmm_sum: `indptr` and `indices` must be on ",
              x.device(), " (got ", indptr.device(), " and ", indices.device(), ")");
  const int64_t rows = indptr.numel() - 1, nnz = indices.numel();
  // The CSR's rules as one boolean tensor, read once (one synchronisation on a GPU); the CPU kernel checks each
  // index as it reads it, so only other devices add the index range here.
  at::Tensor ok = (indptr[0] == 0).logical_and(indptr[rows] == nnz);
  if (rows > 0) ok = ok.logical_and((indptr.diff() >= 0).all());
  const bool range_here = !indices.is_cpu() && nnz > 0;
  if (range_here) {
    const auto extremes = at::aminmax(indices);
    ok = ok.logical_and(std::get<0>(extremes) >= 0).logical_and(std::get<1>(extremes) < x.size(0));
  }
  if (ok.item<bool>()) return;
  const int64_t first = indptr[0].item<int64_t>(), last = indptr[rows].item<int64_t>();
  TORCH_CHECK(first == 0 && last == nnz, "spmm_sum: `indptr` must run from 0 to len(indices) = ", nnz, " (got ", first,
              " .. ", last, ")");
  TORCH_CHECK(rows == 0 || (indptr.diff() >= 0).all().item<bool>(), "spmm_sum: `indptr` must not decrease");
  if (range_here) check_entries_below("spmm_sum", "indices", indices, x.size(0));
}

// Checks of gnnpart::spmm_sum_add_ (the index range is checked by the kernels as they read the entries).
inline void check_spmm_add(const at::Tensor& out, const at::Tensor& begin, const at::Tensor& end,
                           const at::Tensor& indices, const at::Tensor& x, int64_t offset) {
  TORCH_CHECK(x.dim() == 2 && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
              "spmm_sum_add_: `x` must be a 2-D float32 or float64 tensor (got ", x.dim(), " dims, ", x.scalar_type(), ")");
  TORCH_CHECK(out.dim() == 2 && out.is_contiguous() && out.scalar_type() == x.scalar_type() && out.size(1) == x.size(1),
              "spmm_sum_add_: `out` must be a contiguous [rows, ", x.size(1), "] ", x.scalar_type(), " tensor (got ",
              out.sizes(), ", ", out.scalar_type(), out.is_contiguous() ? "" : ", not contiguous", ")");
  const int64_t rows = out.size(0);
  TORCH_CHECK(begin.dim() == 1 && end.dim() == 1 && begin.scalar_type() == at::kLong && end.scalar_type() == at::kLong &&
                  begin.numel() == rows && end.numel() == rows,
              "spmm_sum_add_: `begin` and `end` must be 1-D int64 tensors of ", rows, " entries, one per row of `out` (got ",
              begin.sizes(), " and ", end.sizes(), ")");
  TORCH_CHECK(indices.dim() == 1 && indices.scalar_type() == at::kLong, "spmm_sum_add_: `indices` must be 1-D int64");
  TORCH_CHECK(offset >= 0, "spmm_sum_add_: `offset` must be >= 0 (got ", offset, ")");
  TORCH_CHECK(out.device() == x.device() && begin.device() == x.device() && end.device() == x.device() &&
                  indices.device() == x.device(),
              "spmm_sum_add_: every tensor must be on ", x.device());
  if (rows == 0) return;
  const bool ok = (begin >= 0).logical_and(begin <= end).logical_and(end <= indices.numel()).all().item<bool>();
  TORCH_CHECK(ok, "spmm_sum_add_: each row's edges must satisfy 0 <= begin <= end <= len(indices) = ", indices.numel());
}

}  // namespace gnnpart
