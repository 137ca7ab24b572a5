// CUDA kernels of the halo row ops. Pack and unpack move whole rows as raw bytes, in the widest word
// (16, 8, 4, 2 or 1 bytes) that divides the row and the buffers' alignment: a block is a grid of
// (lanes x rows), the lanes of one row copying consecutive words (coalesced). Scatter-add is one thread per
// element with atomic adds (repeated indices add safely; the order of additions is not fixed).
// Index ranges and dtypes are checked as on the CPU (csrc/common/index_range.h, csrc/comm/row_checks.h).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstdint>

#include "comm/row_checks.h"
#include "comm/row_move.h"
#include "common/index_range.h"

namespace gnnpart {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535 * 8;

// Gather (to[i] = from[idx[i]]) or Scatter (to[idx[i]] = from[i]) of rows of `words` words (comm/row_move.h).
template <typename W, RowMove Move>
__global__ void move_rows_kernel(const W* from, const int64_t* idx, W* to, int64_t n, int64_t words) {
  constexpr bool gather = Move == RowMove::Gather;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.y + threadIdx.y; i < n; i += (int64_t)gridDim.x * blockDim.y) {
    const W* s = from + (gather ? idx[i] : i) * words;
    W* d = to + (gather ? i : idx[i]) * words;
    for (int64_t c = threadIdx.x; c < words; c += blockDim.x) d[c] = s[c];
  }
}

template <typename W, RowMove Move>
void launch_move(const void* from, const int64_t* idx, void* to, int64_t n, int64_t row_bytes) {
  const int64_t words = row_bytes / static_cast<int64_t>(sizeof(W));
  int lanes = 1;
  while (lanes < 32 && lanes < words) lanes *= 2;
  const dim3 block(lanes, kThreads / lanes);
  const int64_t blocks = std::min<int64_t>((n + block.y - 1) / block.y, kMaxBlocks);
  move_rows_kernel<W, Move><<<static_cast<int>(blocks), block, 0, c10::cuda::getCurrentCUDAStream()>>>(
      static_cast<const W*>(from), idx, static_cast<W*>(to), n, words);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <RowMove Move>
void move_rows(const void* from, const int64_t* idx, void* to, int64_t n, int64_t row_bytes) {
  if (n == 0 || row_bytes == 0) return;
  const auto fits = [&](int64_t w) {
    return row_bytes % w == 0 && reinterpret_cast<uintptr_t>(from) % w == 0 && reinterpret_cast<uintptr_t>(to) % w == 0;
  };
  if (fits(16)) launch_move<uint4, Move>(from, idx, to, n, row_bytes);
  else if (fits(8)) launch_move<uint2, Move>(from, idx, to, n, row_bytes);
  else if (fits(4)) launch_move<uint32_t, Move>(from, idx, to, n, row_bytes);
  else if (fits(2)) launch_move<uint16_t, Move>(from, idx, to, n, row_bytes);
  else launch_move<uint8_t, Move>(from, idx, to, n, row_bytes);
}

template <typename T>
__global__ void scatter_add_kernel(T* out, const int64_t* idx, const T* rows, int64_t n, int64_t width) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / width, c = e % width;
    gpuAtomicAdd(out + idx[i] * width + c, rows[e]);
  }
}

at::Tensor pack_rows_cuda(const at::Tensor& src, const at::Tensor& index_in) {
  const c10::cuda::CUDAGuard device_guard(src.device());  // launch on the tensors' GPU
  check_row_op("pack_rows", src, index_in, nullptr);
  const at::Tensor index = index_in.contiguous();
  check_index_range("pack_rows", "index", index, src.size(0));
  const int64_t n = index.numel(), width = src.size(1);
  at::Tensor out = at::empty({n, width}, src.options());
  move_rows<RowMove::Gather>(src.data_ptr(), index.data_ptr<int64_t>(), out.data_ptr(), n, width * src.element_size());
  return out;
}

void pack_rows_into_cuda(const at::Tensor& src, const at::Tensor& index_in, at::Tensor& out) {
  const c10::cuda::CUDAGuard device_guard(src.device());  // launch on the tensors' GPU
  check_row_op("pack_rows_into_", src, index_in, nullptr);
  check_row_op("pack_rows_into_", out, index_in, nullptr);
  const at::Tensor index = index_in.contiguous();
  const int64_t n = index.numel(), width = src.size(1);
  TORCH_CHECK(out.size(0) == n && out.size(1) == width && out.scalar_type() == src.scalar_type(),
              "pack_rows_into_: `out` must have shape [", n, ", ", width, "] and dtype ", src.scalar_type(), " (got ",
              out.sizes(), ", ", out.scalar_type(), ")");
  check_index_range("pack_rows_into_", "index", index, src.size(0));
  move_rows<RowMove::Gather>(src.data_ptr(), index.data_ptr<int64_t>(), out.data_ptr(), n, width * src.element_size());
}

void unpack_rows_cuda(at::Tensor& out, const at::Tensor& index_in, const at::Tensor& rows_in) {
  const c10::cuda::CUDAGuard device_guard(out.device());  // launch on the tensors' GPU
  check_row_op("unpack_rows_", out, index_in, &rows_in);
  const at::Tensor index = index_in.contiguous();
  const at::Tensor rows = rows_in.contiguous();
  check_index_range("unpack_rows_", "index", index, out.size(0));
  const int64_t n = index.numel(), width = out.size(1);
  move_rows<RowMove::Scatter>(rows.data_ptr(), index.data_ptr<int64_t>(), out.data_ptr(), n, width * out.element_size());
}

void scatter_add_rows_cuda(at::Tensor& out, const at::Tensor& index_in, const at::Tensor& rows_in) {
  const c10::cuda::CUDAGuard device_guard(out.device());  // launch on the tensors' GPU
  check_row_op("scatter_add_rows_", out, index_in, &rows_in);
  const at::Tensor index = index_in.contiguous();
  const at::Tensor rows = rows_in.contiguous();
  check_index_range("scatter_add_rows_", "index", index, out.size(0));
  const int64_t n = index.numel(), width = out.size(1);
  if (n * width == 0) return;
  const int64_t blocks = std::min<int64_t>((n * width + kThreads - 1) / kThreads, kMaxBlocks);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(), "scatter_add_rows_", [&] {
    scatter_add_kernel<scalar_t><<<static_cast<int>(blocks), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
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
