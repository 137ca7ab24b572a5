// One range check of an index tensor for the CPU and the CUDA kernels, so that both refuse the same inputs
// with the same message. On the CPU it scans the entries and names the first bad one's position; on a GPU it
// reduces them to their minimum and maximum (one synchronisation) and names the offending extreme.
#pragma once
#include <ATen/ATen.h>

#include <tuple>

namespace gnnpart {

// Entries of `t` (any integer dtype, any device) in [0, bound), checked through their minimum and maximum.
// One synchronisation when every entry is in range (a GPU waits once); the values are read only for the message.
inline void check_entries_below(const char* op, const char* name, const at::Tensor& t, int64_t bound) {
  if (t.numel() == 0) return;
  const auto extremes = at::aminmax(t);
  if (!(std::get<0>(extremes) < 0).logical_or(std::get<1>(extremes) >= bound).item<bool>()) return;
  const int64_t lo = std::get<0>(extremes).item<int64_t>(), hi = std::get<1>(extremes).item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < bound, op, ": `", name, "` entries must be in [0, ", bound, ") (got ", lo < 0 ? lo : hi,
              ")");
}

// An int64 index: on the CPU a scan that names the first bad entry's position; elsewhere check_entries_below.
inline void check_index_range(const char* op, const char* name, const at::Tensor& index, int64_t bound) {
  const int64_t n = index.numel();
  if (n == 0) return;
  if (index.is_cpu()) {
    const at::Tensor c = index.contiguous();
    const int64_t* idx = c.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i)
      TORCH_CHECK(idx[i] >= 0 && idx[i] < bound, op, ": `", name, "` entries must be in [0, ", bound, ") (got ",
                  idx[i], " at position ", i, ")");
    return;
  }
  check_entries_below(op, name, index, bound);
}

}  // namespace gnnpart
