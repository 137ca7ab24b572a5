// CPU kernels of gnnpart::spmm_sum and gnnpart::spmm_sum_add_: parallel over rows (the rank's intra-op threads);
// each output element adds its row's neighbours in CSR order onto its start value (zero, or `out`'s value), so
// the result is the same bits on any thread count. The columns go in blocks of up to 64 held in registers while
// the row's neighbours are added; the sources are prefetched along the rows' edge ranges (see add_block);
// the kernel is compiled twice, for AVX2 and for the baseline ISA, and picked at run time. Each index is checked
// as it is read. Other checks: csrc/nn/spmm_checks.h.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

#include <algorithm>
#include <optional>

#include "nn/spmm_checks.h"

namespace gnnpart {
namespace {

constexpr int64_t kGrain = 256;  // rows per task
constexpr int64_t kAhead = 8;      // edges between a prefetch and the use of its row, within a row
constexpr int64_t kRowsAhead = 2;  // rows between the prefetch of a row's first edges and their use

// out[r] += sum of x[indices[e] - offset] for e in [begin[r], end[r]), for the rows r0 .. r1 - 1.
template <typename T>
struct RowSums {
  const char* op;
  T* out;
  const T* x;
  const int64_t* begin;
  const int64_t* end;
  const int64_t* idx;
  int64_t width, offset, cols;
  bool fresh;  // `out` is uninitialised: start from zero instead of its values
};

#define GNNPART_ALWAYS_INLINE __attribute__((always_inline)) inline

template <typename T>
GNNPART_ALWAYS_INLINE int64_t source_row(const RowSums<T>& a, int64_t e) {
  const int64_t c = a.idx[e] - a.offset;
  TORCH_CHECK(c >= 0 && c < a.cols, a.op, ": `indices` entries must be in [", a.offset, ", ", a.offset + a.cols,
              ") (got ", a.idx[e], ")");
  return c;
}

// Starts a fetch of columns [c0, c0 + B) of the source row of edge e (a prefetch never faults, whatever the index).
template <typename T, int B>
GNNPART_ALWAYS_INLINE void prefetch_source(const RowSums<T>& a, int64_t e, int64_t c0) {
  const char* row = reinterpret_cast<const char*>(a.x + (a.idx[e] - a.offset) * a.width + c0);
  for (int64_t line = 0; line < static_cast<int64_t>(B * sizeof(T)); line += 64) __builtin_prefetch(row + line);
}

// Columns [c0, c0 + B) of row r, accumulated in registers. The sources are fetched ahead along the rows' own edge
// ranges, which need not touch (the overlapped aggregation's inner-source and halo-source passes take every
// other range): the first kAhead edges of row r + kRowsAhead when the row begins, then, within the row, the
// edge kAhead on. (Fetching the edge kAhead on in `indices` fetched the other pass's sources at every row end, and
// left a pass over rows of a few edges each waiting on memory: 2.0x the time per edge here.)
template <typename T, int B>
GNNPART_ALWAYS_INLINE void add_block(const RowSums<T>& a, T* o, int64_t r, int64_t r1, int64_t c0) {
  const int64_t e0 = a.begin[r], e1 = a.end[r];
  if (r + kRowsAhead < r1) {
    const int64_t f0 = a.begin[r + kRowsAhead], f1 = std::min(a.end[r + kRowsAhead], f0 + kAhead);
    for (int64_t e = f0; e < f1; ++e) prefetch_source<T, B>(a, e, c0);
  }
  T acc[B];
#pragma GCC unroll 64
  for (int k = 0; k < B; ++k) acc[k] = a.fresh ? T(0) : o[c0 + k];
  for (int64_t e = e0; e < e1; ++e) {
    if (e + kAhead < e1) prefetch_source<T, B>(a, e + kAhead, c0);
    const T* s = a.x + source_row(a, e) * a.width + c0;
#pragma GCC unroll 64
    for (int k = 0; k < B; ++k) acc[k] += s[k];
  }
#pragma GCC unroll 64
  for (int k = 0; k < B; ++k) o[c0 + k] = acc[k];
}

template <typename T>
GNNPART_ALWAYS_INLINE void add_rows_impl(const RowSums<T>& a, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < std::min(r1, r0 + kRowsAhead); ++r)  // the rows no earlier row fetches ahead
    for (int64_t e = a.begin[r]; e < std::min(a.end[r], a.begin[r] + kAhead); ++e)
      for (int64_t c0 = 0; c0 < a.width; c0 += 64 / static_cast<int64_t>(sizeof(T))) prefetch_source<T, 1>(a, e, c0);
  for (int64_t r = r0; r < r1; ++r) {
    T* o = a.out + r * a.width;
    int64_t c0 = 0;
    for (; c0 + 64 <= a.width; c0 += 64) add_block<T, 64>(a, o, r, r1, c0);
    if (c0 + 32 <= a.width) { add_block<T, 32>(a, o, r, r1, c0); c0 += 32; }
    if (c0 + 16 <= a.width) { add_block<T, 16>(a, o, r, r1, c0); c0 += 16; }
    if (c0 + 8 <= a.width) { add_block<T, 8>(a, o, r, r1, c0); c0 += 8; }
    for (; c0 < a.width; ++c0) add_block<T, 1>(a, o, r, r1, c0);
  }
}

#if defined(__x86_64__) || defined(__i386__)
#define GNNPART_X86 1
template <typename T>
__attribute__((target("avx2"))) void add_rows_avx2(const RowSums<T>& a, int64_t r0, int64_t r1) {
  add_rows_impl(a, r0, r1);
}
#endif

template <typename T>
void add_rows_base(const RowSums<T>& a, int64_t r0, int64_t r1) {
  add_rows_impl(a, r0, r1);
}

template <typename T>
void add_rows(const RowSums<T>& a, int64_t rows) {
#ifdef GNNPART_X86
  static const bool avx2 = __builtin_cpu_supports("avx2");
#endif
  at::parallel_for(0, rows, kGrain, [&](int64_t r0, int64_t r1) {
#ifdef GNNPART_X86
    if (avx2) return add_rows_avx2(a, r0, r1);
#endif
    add_rows_base(a, r0, r1);  // other machines: the compiler's vectorisation for their baseline ISA
  });
}

at::Tensor spmm_sum_cpu(const at::Tensor& indptr_in, const at::Tensor& indices_in, const at::Tensor& x_in,
                        const std::optional<at::Tensor>&, const std::optional<at::Tensor>&) {
  check_spmm(indptr_in, indices_in, x_in);
  const at::Tensor indptr = indptr_in.contiguous(), indices = indices_in.contiguous(), x = x_in.contiguous();
  const int64_t rows = indptr.numel() - 1, width = x.size(1);
  const int64_t* ptr = indptr.data_ptr<int64_t>();
  at::Tensor out = at::empty({rows, width}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_sum", [&] {
    add_rows(RowSums<scalar_t>{"spmm_sum", out.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), ptr, ptr + 1,
                               indices.data_ptr<int64_t>(), width, 0, x.size(0), true},
             rows);
  });
  return out;
}

void spmm_sum_add_cpu(at::Tensor& out, const at::Tensor& begin_in, const at::Tensor& end_in,
                      const at::Tensor& indices_in, const at::Tensor& x_in, int64_t offset) {
  check_spmm_add(out, begin_in, end_in, indices_in, x_in, offset);
  const at::Tensor begin = begin_in.contiguous(), end = end_in.contiguous(), indices = indices_in.contiguous();
  const at::Tensor x = x_in.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_sum_add_", [&] {
    add_rows(RowSums<scalar_t>{"spmm_sum_add_", out.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), begin.data_ptr<int64_t>(),
                               end.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.size(1), offset, x.size(0), false},
             out.size(0));
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CPU, m) {
  m.impl("spmm_sum", &spmm_sum_cpu);
  m.impl("spmm_sum_add_", &spmm_sum_add_cpu);
}

}  // namespace gnnpart
