// CPU kernels of gnnpart::hash_dropout and hash_dropout_relu: parallel over rows, one 64-bit hash per four
// elements, the hashes of 256 channels drawn before their elements; the ReLU variant clamps each value at 0 in the
// same pass.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "hashing/dropout_checks.h"
#include "hashing/hash.h"

namespace gnnpart {
namespace {

// value * scale where the element is kept, +0 where it is dropped, without a branch: the coin
// flip is random, and a branch on it (which GCC emitted for `(float)(keep) * scale`) costs a
// misprediction every other element (7 ns an element here, against 1.3 ns for this form).
// In the element's opmath type: float for half, bfloat16 and float, double for double (no rounding to float).
template <typename Op>
inline Op masked(Op value, uint32_t draw, uint32_t threshold, Op scale) {
  using Bits = std::conditional_t<std::is_same_v<Op, float>, uint32_t, uint64_t>;
  static_assert(sizeof(Bits) == sizeof(Op), "float or double");
  const Bits keep = Bits{0} - static_cast<Bits>(draw >= threshold);  // all ones or all zeros
  Bits bits;
  const Op scaled = value * scale;
  std::memcpy(&bits, &scaled, sizeof bits);
  bits &= keep;
  Op out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

template <bool Relu, typename Op>
inline Op input(Op value) {
  return Relu && value < Op(0) ? Op(0) : value;  // NaN passes, as torch.relu lets it
}

// Rows [begin, end) of the dropout, 256 channels at a time: first the 64 hashes of a block, in a loop of their
// own, then the elements against their 16-bit draws. Two loops rather than one hash per four elements in one
// loop: each is a fixed pattern the compiler unrolls (the draws of group g are its hash's four 16-bit quarters,
// lowest first, which is the hash's little-endian byte order), and the epoch's widest pass runs at memory
// speed here (0.5x the time of the one-loop form on [1M, 256] floats, 2 threads). Same bits as before.
constexpr int64_t kGroups = 64;  // hashes per block: 256 channels

template <typename T, bool Relu>
void dropout_rows(const T* __restrict__ src, T* __restrict__ dst, const int64_t* __restrict__ ids, int64_t begin,
                  int64_t end, int64_t width, uint64_t stream, uint32_t threshold, at::opmath_type<T> scale) {
  using Op = at::opmath_type<T>;
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the draws are read as a hash's 16-bit quarters");
  uint64_t hashes[kGroups] = {};  // zeros: a narrow block copies the draws of hashes it did not compute, unread
  uint16_t draws[4 * kGroups];
  for (int64_t r = begin; r < end; ++r) {
    const uint64_t key = row_key(stream, ids[r]);
    const T* __restrict__ s = src + r * width;
    T* __restrict__ d = dst + r * width;
    for (int64_t c0 = 0; c0 < width; c0 += 4 * kGroups) {
      const int64_t first = c0 >> 2;
      const int64_t n = std::min<int64_t>(4 * kGroups, width - c0);
      if (n == 4 * kGroups) {  // a whole block: the fixed-trip loop
        for (int64_t g = 0; g < kGroups; ++g) hashes[g] = group_hash(key, first + g);
      } else {  // the last, narrower block (all of a row narrower than 256): only the hashes it reads
        for (int64_t g = 0; g < (n + 3) / 4; ++g) hashes[g] = group_hash(key, first + g);
      }
      std::memcpy(draws, hashes, sizeof hashes);  // draw16(hashes[g], c) == draws[4 g + c % 4]
      for (int64_t c = 0; c < n; ++c)
        d[c0 + c] = static_cast<T>(masked<Op>(input<Relu>(static_cast<Op>(s[c0 + c])), draws[c], threshold, scale));
    }
  }
}

template <bool Relu>
at::Tensor hash_dropout_cpu(const at::Tensor& x_in, const at::Tensor& ids_in, int64_t seed, int64_t epoch,
                            int64_t layer, double p) {
  check_hash_dropout(x_in, ids_in, p);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor ids = ids_in.contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t rows = x.size(0), width = x.size(1);
  const uint64_t stream = stream_key(seed, epoch, layer);
  const uint32_t threshold = keep_threshold(p);
  const int64_t* id = ids.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "hash_dropout", [&] {
    const scalar_t* src = x.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    using Op = at::opmath_type<scalar_t>;
    const Op scale = Op(1) / static_cast<Op>(1.0 - p);
    at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
      dropout_rows<scalar_t, Relu>(src, dst, id, begin, end, width, stream, threshold, scale);
    });
  });
  return out;
}

// grad * scale where out > 0 or NaN, +0 where out <= 0, without a branch (as `masked` above): the bits of the
// scaled gradient ANDed with a mask of all ones or all zeros, which compilers vectorise
template <typename T>
inline T pass_grad(T grad, T out, at::opmath_type<T> scale) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using Bits = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;
    const Bits keep = Bits{0} - static_cast<Bits>(!(out <= T(0)));
    const T scaled = grad * scale;
    Bits bits;
    std::memcpy(&bits, &scaled, sizeof bits);
    bits &= keep;
    T result;
    std::memcpy(&result, &bits, sizeof result);
    return result;
  } else {
    return out <= T(0) ? T(0) : static_cast<T>(static_cast<float>(grad) * scale);  // in float, as aten's mul
  }
}

at::Tensor relu_dropout_grad_cpu(const at::Tensor& grad_in, const at::Tensor& out_in, double scale_in) {
  TORCH_CHECK(grad_in.sizes() == out_in.sizes(), "relu_dropout_grad: `grad` and `out` must have one shape (got ",
              grad_in.sizes(), " and ", out_in.sizes(), ")");
  TORCH_CHECK(grad_in.scalar_type() == out_in.scalar_type(), "relu_dropout_grad: `grad` and `out` must have one dtype");
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor out = out_in.contiguous();
  at::Tensor result = at::empty_like(grad);
  const int64_t n = grad.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "relu_dropout_grad", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const scalar_t* o = out.data_ptr<scalar_t>();
    scalar_t* r = result.data_ptr<scalar_t>();
    const at::opmath_type<scalar_t> scale = static_cast<at::opmath_type<scalar_t>>(scale_in);
    at::parallel_for(0, n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) r[i] = pass_grad(g[i], o[i], scale);
    });
  });
  return result;
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CPU, m) {
  m.impl("relu_dropout_grad", &relu_dropout_grad_cpu);
  m.impl("hash_dropout", &hash_dropout_cpu<false>);
  m.impl("hash_dropout_relu", &hash_dropout_cpu<true>);
}

}  // namespace gnnpart
