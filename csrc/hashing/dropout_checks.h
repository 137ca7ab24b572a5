// Input checks of gnnpart::hash_dropout and hash_dropout_relu, shared by their CPU and CUDA kernels (same rules,
// same messages).
#pragma once
#include <ATen/ATen.h>

namespace gnnpart {

inline void check_hash_dropout(const at::Tensor& x, const at::Tensor& ids, double p) {
  TORCH_CHECK(x.dim() == 2, "hash_dropout: `x` must be 2-D [rows, channels] (got ", x.dim(), " dims)");
  TORCH_CHECK(ids.dim() == 1 && ids.scalar_type() == at::kLong && ids.numel() == x.size(0),
              "hash_dropout: `ids` must be int64 with one global id per row of `x` (", x.size(0), ") (got ",
              ids.sizes(), ", ", ids.scalar_type(), ")");
  TORCH_CHECK(ids.device() == x.device(), "hash_dropout: `ids` must be on ", x.device(), " (got ", ids.device(), ")");
  TORCH_CHECK(p >= 0.0 && p < 1.0, "hash_dropout: `p` must be in [0, 1) (got ", p, ")");
}

}  // namespace gnnpart
