// CPU kernels of the halo row ops: parallel over rows (pack, unpack) or over
// column blocks (scatter-add, where an index may repeat), vectorisable inner loops.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GNNPART_X86 1
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "comm/row_checks.h"
#include "comm/row_move.h"
#include "common/index_range.h"

namespace gnnpart {
namespace {

constexpr int64_t kGrain = 256;     // rows per task
constexpr int64_t kColBlock = 64;   // columns per task in scatter-add

// Prefetch the row `ahead` positions on: rows are scattered over a large table, so each starts a new DRAM
// page (and often a TLB miss); asking early overlaps those latencies with the copy of the current row.
constexpr int64_t kAhead = 4;
inline void prefetch_row(const char* row, int64_t row_bytes, int rw) {
  const int64_t lines = std::min<int64_t>(row_bytes, 2048) / 64;
  for (int64_t l = 0; l < lines; ++l) {
    if (rw) __builtin_prefetch(row + l * 64, 1);
    else __builtin_prefetch(row + l * 64, 0);
  }
}

// Rows are copied with non-temporal (streaming) stores when the copy is larger than the caches, the rows are whole
// multiples of 64 bytes and the destination is 64-byte aligned (x86 with AVX): the stores then skip reading the destination's
// lines into the cache first (a third of the memory traffic of a copy) and leave the caches to the reads.
constexpr int64_t kStreamBytes = int64_t{8} << 20;

#ifdef GNNPART_X86
__attribute__((target("avx"))) void stream_row(char* to, const char* from, int64_t row_bytes) {
  for (int64_t b = 0; b < row_bytes; b += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(from + b));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(to + b), v);
  }
}

void stream_fence() { _mm_sfence(); }

// Whole cache lines only: a streamed store that fills part of a line is slow.
bool can_stream(const char* to, int64_t n, int64_t row_bytes) {
  static const bool avx = __builtin_cpu_supports("avx");
  return avx && n * row_bytes >= kStreamBytes && row_bytes % 64 == 0 && reinterpret_cast<uintptr_t>(to) % 64 == 0;
}
#else  // other machines copy with memcpy
void stream_row(char* to, const char* from, int64_t row_bytes) { std::memcpy(to, from, row_bytes); }
void stream_fence() {}
bool can_stream(const char*, int64_t, int64_t) { return false; }
#endif

// to[i] = from[idx[i]] (Gather) or to[idx[i]] = from[i] (Scatter), rows of `row_bytes` (comm/row_move.h).
template <RowMove Move>
void move_rows(const char* from, const int64_t* idx, char* to, int64_t n, int64_t row_bytes) {
  constexpr bool Scatter = Move == RowMove::Scatter;
  const bool stream = can_stream(to, n, row_bytes);
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i + kAhead < end) {
        if (!Scatter) prefetch_row(from + idx[i + kAhead] * row_bytes, row_bytes, 0);
        else if (!stream) prefetch_row(to + idx[i + kAhead] * row_bytes, row_bytes, 1);  // streamed stores need none
      }
      char* dst = Scatter ? to + idx[i] * row_bytes : to + i * row_bytes;
      const char* src = Scatter ? from + i * row_bytes : from + idx[i] * row_bytes;
      if (stream) stream_row(dst, src, row_bytes);
      else std::memcpy(dst, src, row_bytes);
    }
    if (stream) stream_fence();  // the streamed rows are visible before the task ends
  });
}

void gather_rows(const char* from, const int64_t* idx, char* to, int64_t n, int64_t row_bytes) {
  move_rows<RowMove::Gather>(from, idx, to, n, row_bytes);
}

at::Tensor pack_rows_cpu(const at::Tensor& src, const at::Tensor& index_in) {
  check_row_op("pack_rows", src, index_in, nullptr);
  const at::Tensor index = index_in.contiguous();
  const int64_t n = index.numel(), width = src.size(1);
  const int64_t* idx = index.data_ptr<int64_t>();
  check_index_range("pack_rows", "index", index, src.size(0));
  at::Tensor out = at::empty({n, width}, src.options());
  gather_rows(static_cast<const char*>(src.data_ptr()), idx, static_cast<char*>(out.data_ptr()), n,
              width * src.element_size());
  return out;
}

void pack_rows_into_cpu(const at::Tensor& src, const at::Tensor& index_in, at::Tensor& out) {
  check_row_op("pack_rows_into_", src, index_in, nullptr);
  check_row_op("pack_rows_into_", out, index_in, nullptr);
  const at::Tensor index = index_in.contiguous();
  const int64_t n = index.numel(), width = src.size(1);
  TORCH_CHECK(out.size(0) == n && out.size(1) == width && out.scalar_type() == src.scalar_type(),
              "pack_rows_into_: `out` must have shape [", n, ", ", width, "] and dtype ", src.scalar_type(), " (got ",
              out.sizes(), ", ", out.scalar_type(), ")");
  const int64_t* idx = index.data_ptr<int64_t>();
  check_index_range("pack_rows_into_", "index", index, src.size(0));
  gather_rows(static_cast<const char*>(src.data_ptr()), idx, static_cast<char*>(out.data_ptr()), n,
              width * src.element_size());
}

void unpack_rows_cpu(at::Tensor& out, const at::Tensor& index_in, const at::Tensor& rows_in) {
  check_row_op("unpack_rows_", out, index_in, &rows_in);
  const at::Tensor index = index_in.contiguous();
  const at::Tensor rows = rows_in.contiguous();
  const int64_t n = index.numel(), width = out.size(1);
  const int64_t* idx = index.data_ptr<int64_t>();
  check_index_range("unpack_rows_", "index", index, out.size(0));
  const int64_t row_bytes = width * out.element_size();
  move_rows<RowMove::Scatter>(static_cast<const char*>(rows.data_ptr()), idx, static_cast<char*>(out.data_ptr()), n, row_bytes);
}

void scatter_add_rows_cpu(at::Tensor& out, const at::Tensor& index_in, const at::Tensor& rows_in) {
  check_row_op("scatter_add_rows_", out, index_in, &rows_in);
  const at::Tensor index = index_in.contiguous();
  const at::Tensor rows = rows_in.contiguous();
  const int64_t n = index.numel(), width = out.size(1);
  const int64_t* idx = index.data_ptr<int64_t>();
  check_index_range("scatter_add_rows_", "index", index, out.size(0));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, out.scalar_type(), "scatter_add_rows_", [&] {
    const scalar_t* from = rows.data_ptr<scalar_t>();
    scalar_t* to = out.data_ptr<scalar_t>();
    // Each task owns a block of columns for all rows: repeated indices never race,
    // and rows are added in index order, so the result is deterministic.
    const int64_t blocks = (width + kColBlock - 1) / kColBlock;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * kColBlock, c1 = std::min(width, b1 * kColBlock);
      for (int64_t i = 0; i < n; ++i) {
        scalar_t* dst = to + idx[i] * width;
        const scalar_t* s = from + i * width;
        for (int64_t c = c0; c < c1; ++c) dst[c] += s[c];
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CPU, m) {
  m.impl("pack_rows", &pack_rows_cpu);
  m.impl("pack_rows_into_", &pack_rows_into_cpu);
  m.impl("unpack_rows_", &unpack_rows_cpu);
  m.impl("scatter_add_rows_", &scatter_add_rows_cpu);
}

}  // namespace gnnpart
