// Schemas of the halo codec ops: what the cheaper exchange policies send. Kernels: csrc/comm/cpu/ and
// csrc/comm/cuda/. An `index` of None means "rows 0..n-1 in order" (plain quantise / dequantise).
//
//   quantize_rows(src, index, dtype, stochastic, seed) -> (payload [n, F] dtype, scales [n] float32)
//       gather + encode: per-row scale; dtype is Half or BFloat16 (x / max|x|) or Char (int8, x * 127 / max|x|,
//       stochastic rounding keyed by (seed, source row, channel) when `stochastic`).
//   dequantize_rows_(out, index, payload, scales, factor, accumulate)
//       decode + scatter: out[index[i]] = (or +=) payload[i] * scales[i] * factor.
//   topk_rows(src, index, k) -> (values [n, k], channels [n, k] int32)
//       gather + per-row top-k by magnitude (ties: lower channel first); channels ascending in each row.
//   gather_channels(src, index, channels) -> values [n, k]:    src[index[i], channels[i, j]]
//   scatter_channels_(out, index, values, channels, factor, accumulate)
//       out[index[i], channels[i, j]] = (or +=) values[i, j] * factor  (other entries untouched).
//   delta_select_(held, src, index, threshold) -> positions int64
//       rows i whose ||src[index[i]] - held[i]|| > threshold * ||held[i]|| (or held[i] not finite), ascending;
//       held[i] = src[index[i]] for those rows.
//
// With accumulate = True an index may repeat (additions are deterministic on CPU); with False it must not.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def("quantize_rows(Tensor src, Tensor? index, ScalarType dtype, bool stochastic, int seed) -> (Tensor, Tensor)");
  m.def("dequantize_rows_(Tensor(a!) out, Tensor? index, Tensor payload, Tensor scales, float factor, bool accumulate) -> ()");
  m.def("topk_rows(Tensor src, Tensor? index, int k) -> (Tensor, Tensor)");
  m.def("gather_channels(Tensor src, Tensor? index, Tensor channels) -> Tensor");
  m.def("scatter_channels_(Tensor(a!) out, Tensor? index, Tensor values, Tensor channels, float factor, bool accumulate) -> ()");
  m.def("delta_select_(Tensor(a!) held, Tensor src, Tensor index, float threshold) -> Tensor");
}
