// Input checks shared by the CPU and CUDA kernels of the halo codec ops (csrc/comm/codec.cpp).
#pragma once
#include <ATen/ATen.h>

#include <optional>

namespace gnnpart {

// A 2-D contiguous float32 / float64 table of rows.
inline void check_table(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.dim() == 2, op, ": `", name, "` must be 2-D [rows, channels] (got ", t.dim(), " dims)");
  TORCH_CHECK(t.is_contiguous(), op, ": `", name, "` must be contiguous");
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": `", name,
              "` must be float32 or float64 (got ", t.scalar_type(), ")");
}

// The row index of an op: int64 1-D on the table's device, or None for rows 0..n-1 (n = `rows_if_none`).
// Returns the number of rows addressed.
inline int64_t check_index(const char* op, const std::optional<at::Tensor>& index, const at::Tensor& table,
                           int64_t rows_if_none) {
  if (!index.has_value()) {
    TORCH_CHECK(rows_if_none <= table.size(0), op, ": without `index`, ", rows_if_none, " rows need a table of at least ",
                rows_if_none, " rows (got ", table.size(0), ")");
    return rows_if_none;
  }
  const at::Tensor& i = *index;
  TORCH_CHECK(i.dim() == 1 && i.scalar_type() == at::kLong, op, ": `index` must be a 1-D int64 tensor (got ", i.dim(),
              " dims, ", i.scalar_type(), ")");
  TORCH_CHECK(i.device() == table.device(), op, ": `index` must be on ", table.device(), " (got ", i.device(), ")");
  return i.numel();
}

// Host-side range check of a CPU index.
inline void check_index_range(const char* op, const int64_t* idx, int64_t n, int64_t bound) {
  for (int64_t i = 0; i < n; ++i)
    TORCH_CHECK(idx[i] >= 0 && idx[i] < bound, op, ": `index` entries must be in [0, ", bound, ") (got ", idx[i],
                " at position ", i, ")");
}

inline void check_same_device(const char* op, const char* name, const at::Tensor& t, const at::Tensor& table) {
  TORCH_CHECK(t.device() == table.device(), op, ": `", name, "` must be on ", table.device(), " (got ", t.device(), ")");
}

inline void check_payload(const char* op, const at::Tensor& payload, const at::Tensor& scales, int64_t n, int64_t width) {
  TORCH_CHECK(payload.dim() == 2 && payload.size(0) == n && payload.size(1) == width, op, ": `payload` must have shape [",
              n, ", ", width, "] (got ", payload.sizes(), ")");
  const auto t = payload.scalar_type();
  TORCH_CHECK(t == at::kHalf || t == at::kBFloat16 || t == at::kChar, op,
              ": `payload` must be float16, bfloat16 or int8 (got ", t, ")");
  TORCH_CHECK(scales.dim() == 1 && scales.numel() == n && scales.scalar_type() == at::kFloat, op,
              ": `scales` must be float32 of shape [", n, "] (got ", scales.sizes(), ", ", scales.scalar_type(), ")");
}

inline void check_channels(const char* op, const at::Tensor& channels, int64_t n) {
  TORCH_CHECK(channels.dim() == 2 && channels.size(0) == n && channels.scalar_type() == at::kInt, op,
              ": `channels` must be int32 of shape [", n, ", k] (got ", channels.sizes(), ", ", channels.scalar_type(), ")");
}

// ------------------------------------------------------------------ per-op checks (CPU and CUDA kernels)
// Each returns the number of rows the op addresses.

inline int64_t check_quantize(const at::Tensor& src, const std::optional<at::Tensor>& index) {
  check_table("quantize_rows", "src", src);
  return check_index("quantize_rows", index, src, src.size(0));
}

inline int64_t check_dequantize(const at::Tensor& out, const std::optional<at::Tensor>& index, const at::Tensor& payload,
                                const at::Tensor& scales) {
  check_table("dequantize_rows_", "out", out);
  const int64_t n = check_index("dequantize_rows_", index, out, payload.size(0));
  check_payload("dequantize_rows_", payload, scales, n, out.size(1));
  check_same_device("dequantize_rows_", "payload", payload, out);
  check_same_device("dequantize_rows_", "scales", scales, out);
  return n;
}

inline int64_t check_topk(const at::Tensor& src, const std::optional<at::Tensor>& index, int64_t k) {
  check_table("topk_rows", "src", src);
  const int64_t n = check_index("topk_rows", index, src, src.size(0));
  TORCH_CHECK(k >= 1 && k <= src.size(1), "topk_rows: `k` must be in [1, ", src.size(1), "] (got ", k, ")");
  return n;
}

inline int64_t check_gather_channels(const at::Tensor& src, const std::optional<at::Tensor>& index,
                                     const at::Tensor& channels) {
  check_table("gather_channels", "src", src);
  const int64_t n = check_index("gather_channels", index, src, channels.size(0));
  check_channels("gather_channels", channels, n);
  check_same_device("gather_channels", "channels", channels, src);
  return n;
}

inline int64_t check_scatter_channels(const at::Tensor& out, const std::optional<at::Tensor>& index,
                                      const at::Tensor& values, const at::Tensor& channels) {
  check_table("scatter_channels_", "out", out);
  const int64_t n = check_index("scatter_channels_", index, out, channels.size(0));
  check_channels("scatter_channels_", channels, n);
  TORCH_CHECK(values.sizes() == channels.sizes() && values.scalar_type() == out.scalar_type(),
              "scatter_channels_: `values` must have the shape of `channels` ", channels.sizes(), " and dtype ",
              out.scalar_type(), " (got ", values.sizes(), ", ", values.scalar_type(), ")");
  check_same_device("scatter_channels_", "values", values, out);
  check_same_device("scatter_channels_", "channels", channels, out);
  return n;
}

inline int64_t check_delta(const at::Tensor& held, const at::Tensor& src, const at::Tensor& index, double threshold) {
  check_table("delta_select_", "held", held);
  check_table("delta_select_", "src", src);
  const int64_t n = check_index("delta_select_", index, src, 0);
  TORCH_CHECK(held.size(0) == n && held.size(1) == src.size(1) && held.scalar_type() == src.scalar_type(),
              "delta_select_: `held` must have shape [", n, ", ", src.size(1), "] and dtype ", src.scalar_type(),
              " (got ", held.sizes(), ", ", held.scalar_type(), ")");
  check_same_device("delta_select_", "held", held, src);
  TORCH_CHECK(threshold >= 0.0, "delta_select_: `threshold` must be >= 0 (got ", threshold, ")");
  return n;
}

}  // namespace gnnpart
