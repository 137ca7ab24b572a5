// Input checks shared by the CPU and CUDA kernels of the halo row ops (the index range: common/index_range.h).
#pragma once
#include <ATen/ATen.h>

namespace gnnpart {

inline void check_row_op(const char* op, const at::Tensor& table, const at::Tensor& index, const at::Tensor* rows) {
  TORCH_CHECK(table.dim() == 2, op, ": the row table must be 2-D [num_rows, width] (got ", table.dim(), " dims)");
  TORCH_CHECK(table.is_contiguous(), op, ": the row table must be contiguous");
  const auto dtype = table.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf || dtype == at::kBFloat16, op,
              ": rows must be float32, float64, float16 or bfloat16 (got ", dtype, ")");
  TORCH_CHECK(index.dim() == 1 && index.scalar_type() == at::kLong, op, ": `index` must be a 1-D int64 tensor (got ",
              index.dim(), " dims, ", index.scalar_type(), ")");
  TORCH_CHECK(index.device() == table.device(), op, ": `index` must be on ", table.device(), " (got ", index.device(), ")");
  if (rows != nullptr) {
    TORCH_CHECK(rows->dim() == 2 && rows->size(0) == index.numel() && rows->size(1) == table.size(1), op,
                ": `rows` must have shape [", index.numel(), ", ", table.size(1), "] (got ", rows->sizes(), ")");
    TORCH_CHECK(rows->scalar_type() == table.scalar_type(), op, ": `rows` must have dtype ", table.scalar_type(),
                " (got ", rows->scalar_type(), ")");
    TORCH_CHECK(rows->device() == table.device(), op, ": `rows` must be on ", table.device());
  }
}

}  // namespace gnnpart
