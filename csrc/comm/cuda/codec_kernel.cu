// CUDA kernels of the halo codec ops (schemas in csrc/comm/codec.cpp). Row-wise work (quantise, top-k,
// delta) uses one warp per row; element-wise work (dequantise, channel gather/scatter) one thread per
// element, grid-stride. Accumulating scatters use atomicAdd (the order of additions is not fixed).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>

#include "comm/codec_checks.h"
#include "comm/quantize.h"
#include "common/index_range.h"

namespace gnnpart {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;

int blocks_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8)); }
int row_blocks(int64_t rows) { return static_cast<int>(std::min<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, 65535 * 8)); }

__device__ __forceinline__ int64_t row_at(const int64_t* idx, int64_t i) { return idx ? idx[i] : i; }

// The row index as a device pointer (None: rows 0..n-1), its entries checked to lie in [0, bound).
const int64_t* index_ptr(const char* op, const std::optional<at::Tensor>& index, at::Tensor& keep, int64_t bound) {
  if (!index.has_value()) return nullptr;
  keep = index->contiguous();
  check_index_range(op, "index", keep, bound);
  return keep.data_ptr<int64_t>();
}

// ------------------------------------------------------------------------------------------ quantise
template <typename T, typename Q>
__global__ void quantize_kernel(const T* src, const int64_t* idx, Q* out, float* scales, int64_t n, int64_t width,
                                bool stochastic, uint64_t stream) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / kWarp; i < n;
       i += (int64_t)gridDim.x * blockDim.x / kWarp) {
    const int64_t r = row_at(idx, i);
    const T* x = src + r * width;
    float peak = 0.0f;
    for (int64_t c = lane; c < width; c += kWarp) peak = fmaxf(peak, fabsf(static_cast<float>(x[c])));
    for (int off = kWarp / 2; off > 0; off /= 2) peak = fmaxf(peak, __shfl_xor_sync(0xffffffffu, peak, off));
    const float scale = row_scale<Q>(peak);
    const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
    if (lane == 0) scales[i] = scale;
    const uint64_t key = row_key(stream, r);
    for (int64_t c = lane; c < width; c += kWarp)
      out[i * width + c] = encode<Q>(static_cast<float>(x[c]) * inv, stochastic ? rounding_draw(key, c) : 0.5f);
  }
}

std::tuple<at::Tensor, at::Tensor> quantize_rows_cuda(const at::Tensor& src, const std::optional<at::Tensor>& index,
                                                      at::ScalarType dtype, bool stochastic, int64_t seed) {
  const c10::cuda::CUDAGuard device_guard(src.device());  // launch on the tensors' GPU
  const int64_t n = check_quantize(src, index), width = src.size(1);
  at::Tensor keep;
  const int64_t* idx = index_ptr("quantize_rows", index, keep, src.size(0));
  at::Tensor scales = at::empty({n}, src.options().dtype(at::kFloat));
  at::Tensor payload;
  dispatch_payload("quantize_rows", dtype, [&](auto q_tag) {
    using Q = decltype(q_tag);
    payload = at::empty({n, width}, src.options().dtype(scalar_of<Q>()));
    if (n == 0) return;
    AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "quantize_rows", [&] {
      quantize_kernel<scalar_t, Q><<<row_blocks(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
          src.data_ptr<scalar_t>(), idx, reinterpret_cast<Q*>(payload.data_ptr()), scales.data_ptr<float>(), n, width,
          stochastic, mix64(static_cast<uint64_t>(seed)));
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {payload, scales};
}

template <typename T, typename Q>
__global__ void dequantize_kernel(T* out, const int64_t* idx, const Q* payload, const float* scales, float factor,
                                  bool accumulate, int64_t n, int64_t width) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / width, c = e % width;
    const T v = static_cast<T>(static_cast<float>(payload[e]) * scales[i] * factor);
    T* d = out + row_at(idx, i) * width + c;
    if (accumulate) atomicAdd(d, v);
    else *d = v;
  }
}

void dequantize_rows_cuda(at::Tensor& out, const std::optional<at::Tensor>& index, const at::Tensor& payload_in,
                          const at::Tensor& scales_in, double factor, bool accumulate) {
  const c10::cuda::CUDAGuard device_guard(out.device());  // launch on the tensors' GPU
  const int64_t n = check_dequantize(out, index, payload_in, scales_in), width = out.size(1);
  if (n * width == 0) return;
  at::Tensor keep;
  const int64_t* idx = index_ptr("dequantize_rows_", index, keep, out.size(0));
  const at::Tensor payload = payload_in.contiguous(), scales = scales_in.contiguous();
  dispatch_payload("dequantize_rows_", payload.scalar_type(), [&](auto q_tag) {
    using Q = decltype(q_tag);
    AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dequantize_rows_", [&] {
      dequantize_kernel<scalar_t, Q><<<blocks_for(n * width), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
          out.data_ptr<scalar_t>(), idx, reinterpret_cast<const Q*>(payload.data_ptr()), scales.data_ptr<float>(),
          static_cast<float>(factor), accumulate, n, width);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

// ------------------------------------------------------------------------------------------ top-k
// One warp per row. Channel c is kept iff fewer than k channels beat it (larger magnitude, or equal
// magnitude and a lower index). Chunks of 32 channels are visited in order, and a ballot gives each kept
// channel its output slot, so the kept channels come out ascending.
template <typename T>
__global__ void topk_kernel(const T* src, const int64_t* idx, T* values, int32_t* channels, int64_t n, int64_t width,
                            int64_t k) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / kWarp; i < n;
       i += (int64_t)gridDim.x * blockDim.x / kWarp) {
    const T* x = src + row_at(idx, i) * width;
    int64_t base = 0;
    for (int64_t c0 = 0; c0 < width; c0 += kWarp) {
      const int64_t c = c0 + lane;
      bool kept = false;
      if (c < width) {
        const T mine = x[c] < T(0) ? -x[c] : x[c];
        int64_t beaten = 0;
        for (int64_t d = 0; d < width && beaten < k; ++d) {
          const T other = x[d] < T(0) ? -x[d] : x[d];
          beaten += (other > mine) || (other == mine && d < c);
        }
        kept = beaten < k;
      }
      const unsigned mask = __ballot_sync(0xffffffffu, kept);
      if (kept) {
        const int64_t slot = base + __popc(mask & ((1u << lane) - 1u));
        values[i * k + slot] = x[c];
        channels[i * k + slot] = static_cast<int32_t>(c);
      }
      base += __popc(mask);
    }
  }
}

std::tuple<at::Tensor, at::Tensor> topk_rows_cuda(const at::Tensor& src, const std::optional<at::Tensor>& index, int64_t k) {
  const c10::cuda::CUDAGuard device_guard(src.device());  // launch on the tensors' GPU
  const int64_t n = check_topk(src, index, k), width = src.size(1);
  at::Tensor keep;
  const int64_t* idx = index_ptr("topk_rows", index, keep, src.size(0));
  at::Tensor values = at::empty({n, k}, src.options());
  at::Tensor channels = at::empty({n, k}, src.options().dtype(at::kInt));
  if (n == 0) return {values, channels};
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "topk_rows", [&] {
    topk_kernel<scalar_t><<<row_blocks(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        src.data_ptr<scalar_t>(), idx, values.data_ptr<scalar_t>(), channels.data_ptr<int32_t>(), n, width, k);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {values, channels};
}

template <typename T>
__global__ void gather_channels_kernel(const T* src, const int64_t* idx, const int32_t* channels, T* values, int64_t n,
                                       int64_t width, int64_t k) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * k; e += (int64_t)gridDim.x * blockDim.x)
    values[e] = src[row_at(idx, e / k) * width + channels[e]];
}

at::Tensor gather_channels_cuda(const at::Tensor& src, const std::optional<at::Tensor>& index, const at::Tensor& channels_in) {
  const c10::cuda::CUDAGuard device_guard(src.device());  // launch on the tensors' GPU
  const int64_t n = check_gather_channels(src, index, channels_in), width = src.size(1);
  at::Tensor keep;
  const int64_t* idx = index_ptr("gather_channels", index, keep, src.size(0));
  check_entries_below("gather_channels", "channels", channels_in, width);
  const at::Tensor channels = channels_in.contiguous();
  const int64_t k = channels.size(1);
  at::Tensor values = at::empty({n, k}, src.options());
  if (n * k == 0) return values;
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "gather_channels", [&] {
    gather_channels_kernel<scalar_t><<<blocks_for(n * k), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        src.data_ptr<scalar_t>(), idx, channels.data_ptr<int32_t>(), values.data_ptr<scalar_t>(), n, width, k);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return values;
}

template <typename T>
__global__ void scatter_channels_kernel(T* out, const int64_t* idx, const T* values, const int32_t* channels, T factor,
                                        bool accumulate, int64_t n, int64_t width, int64_t k) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * k; e += (int64_t)gridDim.x * blockDim.x) {
    T* d = out + row_at(idx, e / k) * width + channels[e];
    if (accumulate) atomicAdd(d, values[e] * factor);
    else *d = values[e] * factor;
  }
}

void scatter_channels_cuda(at::Tensor& out, const std::optional<at::Tensor>& index, const at::Tensor& values_in,
                           const at::Tensor& channels_in, double factor, bool accumulate) {
  const c10::cuda::CUDAGuard device_guard(out.device());  // launch on the tensors' GPU
  const int64_t n = check_scatter_channels(out, index, values_in, channels_in), width = out.size(1);
  at::Tensor keep;
  const int64_t* idx = index_ptr("scatter_channels_", index, keep, out.size(0));
  check_entries_below("scatter_channels_", "channels", channels_in, width);
  const at::Tensor channels = channels_in.contiguous(), values = values_in.contiguous();
  const int64_t k = channels.size(1);
  if (n * k == 0) return;
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "scatter_channels_", [&] {
    scatter_channels_kernel<scalar_t><<<blocks_for(n * k), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        out.data_ptr<scalar_t>(), idx, values.data_ptr<scalar_t>(), channels.data_ptr<int32_t>(),
        static_cast<scalar_t>(factor), accumulate, n, width, k);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ------------------------------------------------------------------------------------------ delta
template <typename T>
__global__ void delta_flags_kernel(const T* src, const int64_t* idx, const T* held, bool* send, int64_t n, int64_t width,
                                   double threshold) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / kWarp; i < n;
       i += (int64_t)gridDim.x * blockDim.x / kWarp) {
    const T* x = src + idx[i] * width;
    const T* y = held + i * width;
    double diff = 0.0, norm = 0.0;
    for (int64_t c = lane; c < width; c += kWarp) {
      const double d = static_cast<double>(x[c]) - static_cast<double>(y[c]);
      diff += d * d;
      norm += static_cast<double>(y[c]) * static_cast<double>(y[c]);
    }
    for (int off = kWarp / 2; off > 0; off /= 2) {
      diff += __shfl_xor_sync(0xffffffffu, diff, off);
      norm += __shfl_xor_sync(0xffffffffu, norm, off);
    }
    if (lane == 0) send[i] = !(diff <= threshold * threshold * norm);
  }
}

template <typename T>
__global__ void delta_copy_kernel(const T* src, const int64_t* idx, const int64_t* pos, T* held, int64_t count, int64_t width) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < count * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = e / width, c = e % width;
    held[pos[j] * width + c] = src[idx[pos[j]] * width + c];
  }
}

at::Tensor delta_select_cuda(at::Tensor& held, const at::Tensor& src, const at::Tensor& index_in, double threshold) {
  const c10::cuda::CUDAGuard device_guard(src.device());  // launch on the tensors' GPU
  const int64_t n = check_delta(held, src, index_in, threshold), width = src.size(1);
  const at::Tensor index = index_in.contiguous();
  check_index_range("delta_select_", "index", index, src.size(0));
  at::Tensor send = at::zeros({n}, src.options().dtype(at::kBool));
  auto stream = c10::cuda::getCurrentCUDAStream();
  if (n > 0) {
    AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "delta_select_", [&] {
      delta_flags_kernel<scalar_t><<<row_blocks(n), kThreads, 0, stream>>>(
          src.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), held.data_ptr<scalar_t>(), send.data_ptr<bool>(), n,
          width, threshold);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  at::Tensor positions = at::nonzero(send).view({-1});
  const int64_t count = positions.numel();
  if (count * width > 0) {
    AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "delta_select_", [&] {
      delta_copy_kernel<scalar_t><<<blocks_for(count * width), kThreads, 0, stream>>>(
          src.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), positions.data_ptr<int64_t>(), held.data_ptr<scalar_t>(),
          count, width);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return positions;
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CUDA, m) {
  m.impl("quantize_rows", &quantize_rows_cuda);
  m.impl("dequantize_rows_", &dequantize_rows_cuda);
  m.impl("topk_rows", &topk_rows_cuda);
  m.impl("gather_channels", &gather_channels_cuda);
  m.impl("scatter_channels_", &scatter_channels_cuda);
  m.impl("delta_select_", &delta_select_cuda);
}

}  // namespace gnnpart
