// CPU kernel of gnnpart::spmm_sum: parallel over rows; each row sums its neighbours' feature rows in CSR
// order (deterministic), inner loop over columns, each index checked as it is read. Other checks:
// csrc/nn/spmm_checks.h.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <optional>

#include "nn/spmm_checks.h"

namespace gnnpart {
namespace {

at::Tensor spmm_sum_cpu(const at::Tensor& indptr_in, const at::Tensor& indices_in, const at::Tensor& x_in,
                        const std::optional<at::Tensor>&, const std::optional<at::Tensor>&) {
  check_spmm(indptr_in, indices_in, x_in);
  const at::Tensor indptr = indptr_in.contiguous(), indices = indices_in.contiguous(), x = x_in.contiguous();
  const int64_t rows = indptr.numel() - 1, width = x.size(1), cols = x.size(0);
  const int64_t* ptr = indptr.data_ptr<int64_t>();
  const int64_t* idx = indices.data_ptr<int64_t>();
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
