// CPU kernel of gnnpart::spmm_sum: parallel over rows; each row sums its
// neighbours' feature rows in CSR order (deterministic), inner loop over columns.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

namespace gnnpart {
namespace {

at::Tensor spmm_sum_cpu(const at::Tensor& indptr_in, const at::Tensor& indices_in, const at::Tensor& x_in) {
  TORCH_CHECK(indptr_in.dim() == 1 && indptr_in.scalar_type() == at::kLong && indptr_in.numel() >= 1,
              "spmm_sum: `indptr` must be a non-empty 1-D int64 tensor");
  TORCH_CHECK(indices_in.dim() == 1 && indices_in.scalar_type() == at::kLong, "spmm_sum: `indices` must be 1-D int64");
  TORCH_CHECK(x_in.dim() == 2, "spmm_sum: `x` must be 2-D [num_cols, width] (got ", x_in.dim(), " dims)");
  const at::Tensor indptr = indptr_in.contiguous(), indices = indices_in.contiguous(), x = x_in.contiguous();
  const int64_t rows = indptr.numel() - 1, width = x.size(1), cols = x.size(0);
  const int64_t* ptr = indptr.data_ptr<int64_t>();
  const int64_t* idx = indices.data_ptr<int64_t>();
  TORCH_CHECK(ptr[0] == 0 && ptr[rows] == indices.numel(), "spmm_sum: `indptr` must run from 0 to len(indices) = ",
              indices.numel(), " (got ", ptr[0], " .. ", ptr[rows], ")");
  at::Tensor out = at::zeros({rows, width}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_sum", [&] {
    const scalar_t* src = x.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        scalar_t* o = dst + r * width;
        for (int64_t e = ptr[r]; e < ptr[r + 1]; ++e) {
          const int64_t c = idx[e];
          TORCH_CHECK(c >= 0 && c < cols, "spmm_sum: `indices` entries must be in [0, ", cols, ") (got ", c, ")");
          const scalar_t* s = src + c * width;
          for (int64_t k = 0; k < width; ++k) o[k] += s[k];
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CPU, m) { m.impl("spmm_sum", &spmm_sum_cpu); }

}  // namespace gnnpart
