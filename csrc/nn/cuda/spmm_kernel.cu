// CUDA kernel of gnnpart::spmm_sum: one row per group of lanes (up to a warp), the lanes splitting the
// columns; each lane adds the row's neighbours in CSR order, so every output element is summed in the same
// fixed order as on the CPU (no atomics): the same inputs give the same bits on either device.
// Checks: csrc/nn/spmm_checks.h.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>

#include "nn/spmm_checks.h"

namespace gnnpart {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void spmm_sum_kernel(const int64_t* ptr, const int64_t* idx, const T* x, T* out, int64_t rows,
                                int64_t width) {
  for (int64_t r = blockIdx.x * (int64_t)blockDim.y + threadIdx.y; r < rows; r += (int64_t)gridDim.x * blockDim.y) {
    const int64_t begin = ptr[r], end = ptr[r + 1];
    for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
      T acc = T(0);
      for (int64_t e = begin; e < end; ++e) acc += x[idx[e] * width + c];
      out[r * width + c] = acc;
    }
  }
}

at::Tensor spmm_sum_cuda(const at::Tensor& indptr_in, const at::Tensor& indices_in, const at::Tensor& x_in,
                         const std::optional<at::Tensor>&, const std::optional<at::Tensor>&) {
  const c10::cuda::CUDAGuard device_guard(x_in.device());  // launch on the tensors' GPU
  check_spmm(indptr_in, indices_in, x_in);
  const at::Tensor indptr = indptr_in.contiguous(), indices = indices_in.contiguous(), x = x_in.contiguous();
  const int64_t rows = indptr.numel() - 1, width = x.size(1);
  at::Tensor out = at::empty({rows, width}, x.options());
  if (rows * width == 0) return out.zero_();
  int lanes = 1;
  while (lanes < 32 && lanes < width) lanes *= 2;
  const dim3 block(lanes, kThreads / lanes);
  const int64_t blocks = std::min<int64_t>((rows + block.y - 1) / block.y, 65535 * 8);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_sum", [&] {
    spmm_sum_kernel<scalar_t><<<static_cast<int>(blocks), block, 0, c10::cuda::getCurrentCUDAStream()>>>(
        indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
        rows, width);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

// spmm_sum_add_: the same layout; each lane starts from out's value and adds its row's edges in order. An index
// outside [offset, offset + cols) sets `bad` (read once after the kernel) and is skipped.
template <typename T>
__global__ void spmm_sum_add_kernel(const int64_t* begin, const int64_t* end, const int64_t* idx, const T* x, T* out,
                                    int64_t rows, int64_t width, int64_t offset, int64_t cols, int* bad) {
  for (int64_t r = blockIdx.x * (int64_t)blockDim.y + threadIdx.y; r < rows; r += (int64_t)gridDim.x * blockDim.y) {
    const int64_t e0 = begin[r], e1 = end[r];
    for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
      T acc = out[r * width + c];
      for (int64_t e = e0; e < e1; ++e) {
        const int64_t src = idx[e] - offset;
        if (src < 0 || src >= cols) {
          *bad = 1;
          continue;
        }
        acc += x[src * width + c];
      }
      out[r * width + c] = acc;
    }
  }
}

void spmm_sum_add_cuda(at::Tensor& out, const at::Tensor& begin_in, const at::Tensor& end_in,
                       const at::Tensor& indices_in, const at::Tensor& x_in, int64_t offset) {
  const c10::cuda::CUDAGuard device_guard(x_in.device());
  check_spmm_add(out, begin_in, end_in, indices_in, x_in, offset);
  const at::Tensor begin = begin_in.contiguous(), end = end_in.contiguous(), indices = indices_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  const int64_t rows = out.size(0), width = out.size(1);
  if (rows * width == 0) return;
  at::Tensor bad = at::zeros({1}, out.options().dtype(at::kInt));
  int lanes = 1;
  while (lanes < 32 && lanes < width) lanes *= 2;
  const dim3 block(lanes, kThreads / lanes);
  const int64_t blocks = std::min<int64_t>((rows + block.y - 1) / block.y, 65535 * 8);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_sum_add_", [&] {
    spmm_sum_add_kernel<scalar_t><<<static_cast<int>(blocks), block, 0, c10::cuda::getCurrentCUDAStream()>>>(
        begin.data_ptr<int64_t>(), end.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.data_ptr<scalar_t>(),
        out.data_ptr<scalar_t>(), rows, width, offset, x.size(0), bad.data_ptr<int>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  TORCH_CHECK(bad.item<int>() == 0, "spmm_sum_add_: `indices` entries must be in [", offset, ", ", offset + x.size(0),
              ") (got an entry outside, on some row's edges)");
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CUDA, m) {
  m.impl("spmm_sum", &spmm_sum_cuda);
  m.impl("spmm_sum_add_", &spmm_sum_add_cuda);
}

}  // namespace gnnpart
