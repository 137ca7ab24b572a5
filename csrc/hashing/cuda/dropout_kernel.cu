// CUDA kernels of gnnpart::hash_dropout and hash_dropout_relu: one thread per element, the same hash as the CPU
// kernel; the ReLU variant clamps each value at 0 first.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "hashing/dropout_checks.h"
#include "hashing/hash.h"

namespace gnnpart {
namespace {

template <typename T, bool Relu>
__global__ void hash_dropout_kernel(const T* x, const int64_t* ids, T* out, int64_t rows, int64_t width,
                                    uint64_t stream, uint32_t threshold, at::opmath_type<T> scale) {
  using Op = at::opmath_type<T>;  // float for half, bfloat16 and float; double for double
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < rows * width; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = e / width, c = e % width;
    const uint64_t key = row_key(stream, ids[r]);
    const Op in = static_cast<Op>(x[e]);
    const Op value = Relu && in < Op(0) ? Op(0) : in;  // NaN passes, as torch.relu lets it
    out[e] = draw16(group_hash(key, c >> 2), c) >= threshold ? static_cast<T>(value * scale) : T(0);
  }
}

template <bool Relu>
at::Tensor hash_dropout_cuda(const at::Tensor& x_in, const at::Tensor& ids_in, int64_t seed, int64_t epoch,
                             int64_t layer, double p) {
  const c10::cuda::CUDAGuard device_guard(x_in.device());  // launch on the tensors' GPU
  check_hash_dropout(x_in, ids_in, p);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor ids = ids_in.contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t n = x.numel();
  if (n == 0) return out;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65535 * 8));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "hash_dropout", [&] {
    hash_dropout_kernel<scalar_t, Relu><<<blocks, threads, 0, stream>>>(
        x.data_ptr<scalar_t>(), ids.data_ptr<int64_t>(), out.data_ptr<scalar_t>(), x.size(0), x.size(1),
        stream_key(seed, epoch, layer), keep_threshold(p),
        at::opmath_type<scalar_t>(1) / static_cast<at::opmath_type<scalar_t>>(1.0 - p));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CUDA, m) {
  m.impl("hash_dropout", &hash_dropout_cuda<false>);
  m.impl("hash_dropout_relu", &hash_dropout_cuda<true>);
}

}  // namespace gnnpart
