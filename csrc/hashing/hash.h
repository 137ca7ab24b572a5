// The counter-based hash behind gnnpart::hash_dropout (SplitMix64 finaliser).
// Shared by the CPU and CUDA kernels so that both draw identical masks, and by the codec ops
// (stochastic rounding); Python: gnnpart/hashing.py (dropout masks and the halo exchange's sampling).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define GNNPART_HD __host__ __device__ __forceinline__
#else
#define GNNPART_HD inline
#endif

namespace gnnpart {

GNNPART_HD uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Key of one (seed, epoch, layer) draw.
GNNPART_HD uint64_t stream_key(int64_t seed, int64_t epoch, int64_t layer) {
  return mix64(mix64(mix64(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(layer));
}

// Key of one node (row) in a draw.
GNNPART_HD uint64_t row_key(uint64_t stream, int64_t global_id) { return mix64(stream ^ static_cast<uint64_t>(global_id)); }

// One 64-bit hash gives four 16-bit uniform draws: channel c uses bits [16 (c % 4), 16 (c % 4) + 16)
// of the hash of group c / 4. An element is kept iff its draw is >= the threshold.
GNNPART_HD uint64_t group_hash(uint64_t row, int64_t group) {
  return mix64(row + static_cast<uint64_t>(group) * 0xD1B54A32D192ED03ULL);
}

GNNPART_HD uint32_t draw16(uint64_t group_bits, int64_t channel) {
  return static_cast<uint32_t>((group_bits >> (16 * (channel & 3))) & 0xFFFFu);
}

// Threshold for drop probability p: an element survives with probability 1 - p (p rounded to 2^-16).
inline uint32_t keep_threshold(double p) { return static_cast<uint32_t>(p * 65536.0 + 0.5); }

}  // namespace gnnpart
