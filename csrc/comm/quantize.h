// Per-row quantisation shared by the CPU and CUDA kernels: the encode and decode of one element.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>

#include "hashing/hash.h"

namespace gnnpart {

// Scale stored for a row whose largest magnitude is `peak`: decode(q) = q * scale.
template <typename Q>
GNNPART_HD float row_scale(float peak) { return peak; }
template <>
GNNPART_HD float row_scale<int8_t>(float peak) { return peak / 127.0f; }

// Encode x (already multiplied by 1 / scale) as Q. `u` in (0, 1) rounds int8 stochastically; u = 0.5 rounds to nearest.
template <typename Q>
GNNPART_HD Q encode(float v, float u);
template <>
GNNPART_HD c10::Half encode<c10::Half>(float v, float) { return c10::Half(v); }
template <>
GNNPART_HD c10::BFloat16 encode<c10::BFloat16>(float v, float) { return c10::BFloat16(v); }
template <>
GNNPART_HD int8_t encode<int8_t>(float v, float u) {
  float q = floorf(v + u);
  q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
  return static_cast<int8_t>(q);
}

// Uniform draw in (0, 1) for element (row key, channel): 16 bits of the dropout hash.
GNNPART_HD float rounding_draw(uint64_t key, int64_t channel) {
  return (static_cast<float>(draw16(group_hash(key, channel >> 2), channel)) + 0.5f) * (1.0f / 65536.0f);
}

// The ScalarType of a payload element type, and a call of f(Q{}) with the element type of `dtype`.
template <typename Q>
inline at::ScalarType scalar_of();
template <> inline at::ScalarType scalar_of<c10::Half>() { return at::kHalf; }
template <> inline at::ScalarType scalar_of<c10::BFloat16>() { return at::kBFloat16; }
template <> inline at::ScalarType scalar_of<int8_t>() { return at::kChar; }

template <typename F>
void dispatch_payload(const char* op, at::ScalarType dtype, const F& f) {
  switch (dtype) {
    case at::kHalf: f(c10::Half{}); break;
    case at::kBFloat16: f(c10::BFloat16{}); break;
    case at::kChar: f(int8_t{}); break;
    default: TORCH_CHECK(false, op, ": `dtype` must be float16, bfloat16 or int8 (got ", dtype, ")");
  }
}

}  // namespace gnnpart
