// CUDA kernels of the halo row ops: one thread per (row, column) element,
// grid-stride; scatter-add uses atomicAdd (repeated indices add safely).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "comm/row_checks.h"

namespace gnnpart {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8)); }

template <typename T>
__global__ void pack_kernel(const T* src, const int64_t* idx, T* out, int64_t n, int64_t width) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / width, c = e % width;
    out[e] = src[idx[i] * width + c];
  }
}

template <typename T>
__global__ void unpack_kernel(T* out, const int64_t* idx, const T* rows, int64_t n, int64_t width) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / width, c = e % width;
    out[idx[i] * width + c] = rows[e];
  }
}

template <typename T>
__global__ void scatter_add_kernel(T* out, const int64_t* idx, const T* rows, int64_t n, int64_t width) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / width, c = e % width;
    atomicAdd(out + idx[i] * width + c, rows[e]);
  }
}

at::Tensor pack_rows_cuda(const at::Tensor& src, const at::Tensor& index_in) {
  check_row_op("pack_rows", src, index_in, nullptr);
  const at::Tensor index = index_in.contiguous();
  const int64_t n = index.numel(), width = src.size(1);
  at::Tensor out = at::empty({n, width}, src.options());
  if (n * width == 0) return out;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "pack_rows", [&] {
    pack_kernel<scalar_t><<<blocks_for(n * width), kThreads, 0, stream>>>(
        src.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), out.data_ptr<scalar_t>(), n, width);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

void pack_rows_into_cuda(const at::Tensor& src, const at::Tensor& index_in, at::Tensor& out) {
  check_row_op("pack_rows_into_", src, index_in, nullptr);
  check_row_op("pack_rows_into_", out, index_in, nullptr);
  const at::Tensor index = index_in.contiguous();
  const int64_t n = index.numel(), width = src.size(1);
  TORCH_CHECK(out.size(0) == n && out.size(1) == width && out.scalar_type() == src.scalar_type(),
              "pack_rows_into_: `out` must have shape [", n, ", ", width, "] and dtype ", src.scalar_type());
  if (n * width == 0) return;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "pack_rows_into_", [&] {
    pack_kernel<scalar_t><<<blocks_for(n * width), kThreads, 0, stream>>>(
        src.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), out.data_ptr<scalar_t>(), n, width);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void unpack_rows_cuda(at::Tensor& out, const at::Tensor& index_in, const at::Tensor& rows_in) {
  check_row_op("unpack_rows_", out, index_in, &rows_in);
  const at::Tensor index = index_in.contiguous();
  const at::Tensor rows = rows_in.contiguous();
  const int64_t n = index.numel(), width = out.size(1);
  if (n * width == 0) return;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(), "unpack_rows_", [&] {
    unpack_kernel<scalar_t><<<blocks_for(n * width), kThreads, 0, stream>>>(
        out.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), rows.data_ptr<scalar_t>(), n, width);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void scatter_add_rows_cuda(at::Tensor& out, const at::Tensor& index_in, const at::Tensor& rows_in) {
  check_row_op("scatter_add_rows_", out, index_in, &rows_in);
  const at::Tensor index = index_in.contiguous();
  const at::Tensor rows = rows_in.contiguous();
  const int64_t n = index.numel(), width = out.size(1);
  if (n * width == 0) return;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "scatter_add_rows_", [&] {
    scatter_add_kernel<scalar_t><<<blocks_for(n * width), kThreads, 0, stream>>>(
        out.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), rows.data_ptr<scalar_t>(), n, width);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CUDA, m) {
  m.impl("pack_rows", &pack_rows_cuda);
  m.impl("pack_rows_into_", &pack_rows_into_cuda);
  m.impl("unpack_rows_", &unpack_rows_cuda);
  m.impl("scatter_add_rows_", &scatter_add_rows_cuda);
}

}  // namespace gnnpart
