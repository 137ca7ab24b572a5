// CPU kernels of the halo codec ops (schemas in csrc/comm/codec.cpp): parallel over rows. Accumulating
// scatters split the destination rows into buckets, one task per bucket, so that repeated indices never
// race and every destination row receives its additions in index order (deterministic).
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

#include "comm/codec_checks.h"
#include "comm/quantize.h"

namespace gnnpart {
namespace {

constexpr int64_t kGrain = 64;  // rows per task

// Source row of position i: index[i], or i without an index.
struct Rows {
  const int64_t* idx;
  int64_t operator()(int64_t i) const { return idx ? idx[i] : i; }
};

Rows rows_of(const char* op, const std::optional<at::Tensor>& index, at::Tensor& keep, int64_t n, int64_t bound) {
  if (!index.has_value()) return Rows{nullptr};
  keep = index->contiguous();
  check_index_range(op, keep.data_ptr<int64_t>(), n, bound);
  return Rows{keep.data_ptr<int64_t>()};
}

// Run body(i) for every position i, in parallel over rows; with `accumulate`, each task owns the positions
// whose destination row falls in its bucket, so that repeated destinations are handled by one task in order.
template <typename F>
void for_rows(int64_t n, Rows rows, bool accumulate, const F& body) {
  if (!accumulate || !rows.idx) {
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) body(i);
    });
    return;
  }
  const int64_t buckets = std::max<int64_t>(1, at::get_num_threads()) * 4;
  at::parallel_for(0, buckets, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t bucket = rows.idx[i] % buckets;
      if (bucket >= b0 && bucket < b1) body(i);
    }
  });
}

// ------------------------------------------------------------------------------------------ quantise
std::tuple<at::Tensor, at::Tensor> quantize_rows_cpu(const at::Tensor& src, const std::optional<at::Tensor>& index,
                                                     at::ScalarType dtype, bool stochastic, int64_t seed) {
  const int64_t n = check_quantize(src, index), width = src.size(1);
  at::Tensor keep;
  const Rows rows = rows_of("quantize_rows", index, keep, n, src.size(0));
  at::Tensor scales = at::empty({n}, src.options().dtype(at::kFloat));
  at::Tensor payload;
  const uint64_t stream = mix64(static_cast<uint64_t>(seed));
  dispatch_payload("quantize_rows", dtype, [&](auto q_tag) {
    using Q = decltype(q_tag);
    payload = at::empty({n, width}, src.options().dtype(scalar_of<Q>()));
    Q* out = reinterpret_cast<Q*>(payload.data_ptr());
    float* sc = scales.data_ptr<float>();
    AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "quantize_rows", [&] {
      const scalar_t* s = src.data_ptr<scalar_t>();
      for_rows(n, rows, false, [&](int64_t i) {
        const scalar_t* x = s + rows(i) * width;
        float peak = 0.0f;
        for (int64_t c = 0; c < width; ++c) peak = std::max(peak, std::fabs(static_cast<float>(x[c])));
        const float scale = row_scale<Q>(peak);
        const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
        sc[i] = scale;
        Q* o = out + i * width;
        if (stochastic) {
          const uint64_t key = row_key(stream, rows(i));
          for (int64_t c = 0; c < width; ++c) o[c] = encode<Q>(static_cast<float>(x[c]) * inv, rounding_draw(key, c));
        } else {
          for (int64_t c = 0; c < width; ++c) o[c] = encode<Q>(static_cast<float>(x[c]) * inv, 0.5f);
        }
      });
    });
  });
  return {payload, scales};
}

void dequantize_rows_cpu(at::Tensor& out, const std::optional<at::Tensor>& index, const at::Tensor& payload_in,
                         const at::Tensor& scales_in, double factor, bool accumulate) {
  const int64_t n = check_dequantize(out, index, payload_in, scales_in), width = out.size(1);
  at::Tensor keep;
  const Rows rows = rows_of("dequantize_rows_", index, keep, n, out.size(0));
  const at::Tensor payload = payload_in.contiguous(), scales = scales_in.contiguous();
  const float* sc = scales.data_ptr<float>();
  dispatch_payload("dequantize_rows_", payload.scalar_type(), [&](auto q_tag) {
    using Q = decltype(q_tag);
    const Q* p = reinterpret_cast<const Q*>(payload.data_ptr());
    AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dequantize_rows_", [&] {
      scalar_t* o = out.data_ptr<scalar_t>();
      for_rows(n, rows, accumulate, [&](int64_t i) {
        const float scale = sc[i] * static_cast<float>(factor);
        const Q* q = p + i * width;
        scalar_t* d = o + rows(i) * width;
        if (accumulate) {
          for (int64_t c = 0; c < width; ++c) d[c] += static_cast<scalar_t>(static_cast<float>(q[c]) * scale);
        } else {
          for (int64_t c = 0; c < width; ++c) d[c] = static_cast<scalar_t>(static_cast<float>(q[c]) * scale);
        }
      });
    });
  });
}

// ------------------------------------------------------------------------------------------ top-k
std::tuple<at::Tensor, at::Tensor> topk_rows_cpu(const at::Tensor& src, const std::optional<at::Tensor>& index, int64_t k) {
  const int64_t n = check_topk(src, index, k), width = src.size(1);
  at::Tensor keep;
  const Rows rows = rows_of("topk_rows", index, keep, n, src.size(0));
  at::Tensor values = at::empty({n, k}, src.options());
  at::Tensor channels = at::empty({n, k}, src.options().dtype(at::kInt));
  int32_t* ch = channels.data_ptr<int32_t>();
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "topk_rows", [&] {
    const scalar_t* s = src.data_ptr<scalar_t>();
    scalar_t* v = values.data_ptr<scalar_t>();
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      std::vector<int32_t> order(width);
      for (int64_t i = b; i < e; ++i) {
        const scalar_t* x = s + rows(i) * width;
        std::iota(order.begin(), order.end(), 0);
        auto larger = [x](int32_t a, int32_t c) {
          const scalar_t fa = std::abs(x[a]), fc = std::abs(x[c]);
          return fa > fc || (fa == fc && a < c);
        };
        if (k < width) std::nth_element(order.begin(), order.begin() + k, order.end(), larger);
        std::sort(order.begin(), order.begin() + k);
        for (int64_t j = 0; j < k; ++j) {
          ch[i * k + j] = order[j];
          v[i * k + j] = x[order[j]];
        }
      }
    });
  });
  return {values, channels};
}

at::Tensor gather_channels_cpu(const at::Tensor& src, const std::optional<at::Tensor>& index, const at::Tensor& channels_in) {
  const int64_t n = check_gather_channels(src, index, channels_in), width = src.size(1);
  at::Tensor keep;
  const Rows rows = rows_of("gather_channels", index, keep, n, src.size(0));
  const at::Tensor channels = channels_in.contiguous();
  const int64_t k = channels.size(1);
  const int32_t* ch = channels.data_ptr<int32_t>();
  for (int64_t j = 0; j < n * k; ++j)
    TORCH_CHECK(ch[j] >= 0 && ch[j] < width, "gather_channels: `channels` entries must be in [0, ", width, ") (got ", ch[j], ")");
  at::Tensor values = at::empty({n, k}, src.options());
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "gather_channels", [&] {
    const scalar_t* s = src.data_ptr<scalar_t>();
    scalar_t* v = values.data_ptr<scalar_t>();
    for_rows(n, rows, false, [&](int64_t i) {
      const scalar_t* x = s + rows(i) * width;
      for (int64_t j = 0; j < k; ++j) v[i * k + j] = x[ch[i * k + j]];
    });
  });
  return values;
}

void scatter_channels_cpu(at::Tensor& out, const std::optional<at::Tensor>& index, const at::Tensor& values_in,
                          const at::Tensor& channels_in, double factor, bool accumulate) {
  const int64_t n = check_scatter_channels(out, index, values_in, channels_in), width = out.size(1);
  at::Tensor keep;
  const Rows rows = rows_of("scatter_channels_", index, keep, n, out.size(0));
  const at::Tensor channels = channels_in.contiguous(), values = values_in.contiguous();
  const int64_t k = channels.size(1);
  const int32_t* ch = channels.data_ptr<int32_t>();
  for (int64_t j = 0; j < n * k; ++j)
    TORCH_CHECK(ch[j] >= 0 && ch[j] < width, "scatter_channels_: `channels` entries must be in [0, ", width, ") (got ", ch[j], ")");
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "scatter_channels_", [&] {
    const scalar_t* v = values.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    const scalar_t f = static_cast<scalar_t>(factor);
    for_rows(n, rows, accumulate, [&](int64_t i) {
      scalar_t* d = o + rows(i) * width;
      if (accumulate) {
        for (int64_t j = 0; j < k; ++j) d[ch[i * k + j]] += v[i * k + j] * f;
      } else {
        for (int64_t j = 0; j < k; ++j) d[ch[i * k + j]] = v[i * k + j] * f;
      }
    });
  });
}

// ------------------------------------------------------------------------------------------ delta
at::Tensor delta_select_cpu(at::Tensor& held, const at::Tensor& src, const at::Tensor& index_in, double threshold) {
  const int64_t n = check_delta(held, src, index_in, threshold), width = src.size(1);
  const at::Tensor index = index_in.contiguous();
  const int64_t* idx = index.data_ptr<int64_t>();
  check_index_range("delta_select_", idx, n, src.size(0));
  std::vector<uint8_t> send(n);
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "delta_select_", [&] {
    const scalar_t* s = src.data_ptr<scalar_t>();
    scalar_t* h = held.data_ptr<scalar_t>();
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const scalar_t* x = s + idx[i] * width;
        const scalar_t* y = h + i * width;
        double diff = 0.0, norm = 0.0;
        for (int64_t c = 0; c < width; ++c) {
          const double d = static_cast<double>(x[c]) - static_cast<double>(y[c]);
          diff += d * d;
          norm += static_cast<double>(y[c]) * static_cast<double>(y[c]);
        }
        // NaN (a row never sent) fails every comparison: send it.
        send[i] = !(diff <= threshold * threshold * norm);
      }
    });
  });
  const int64_t count = std::accumulate(send.begin(), send.end(), int64_t{0});
  at::Tensor positions = at::empty({count}, index.options());
  int64_t* pos = positions.data_ptr<int64_t>();
  for (int64_t i = 0, j = 0; i < n; ++i)
    if (send[i]) pos[j++] = i;
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "delta_select_", [&] {
    const scalar_t* s = src.data_ptr<scalar_t>();
    scalar_t* h = held.data_ptr<scalar_t>();
    at::parallel_for(0, count, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) std::copy(s + idx[pos[j]] * width, s + (idx[pos[j]] + 1) * width, h + pos[j] * width);
    });
  });
  return positions;
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CPU, m) {
  m.impl("quantize_rows", &quantize_rows_cpu);
  m.impl("dequantize_rows_", &dequantize_rows_cpu);
  m.impl("topk_rows", &topk_rows_cpu);
  m.impl("gather_channels", &gather_channels_cpu);
  m.impl("scatter_channels_", &scatter_channels_cpu);
  m.impl("delta_select_", &delta_select_cpu);
}

}  // namespace gnnpart
