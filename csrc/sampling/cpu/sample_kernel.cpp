// CPU kernels of gnnpart::sample_neighbors and gnnpart::block_sources (schemas: csrc/sampling/sample.cpp).
//
// sample_neighbors: rows in parallel; a row longer than the fanout keeps its k smallest hashes (nth_element, then
// the k sorted), a shorter one sorts all of its edges by hash. Either way the edges come out in hash order (ties
// by source id), which is the same on every rank, so a target's sum over its neighbours adds in the same order
// wherever it is computed.
//
// block_sources: one pass with an open-addressing table from global id to position (targets first), so a batch's
// hundreds of thousands of sampled ids are deduplicated in O(n) instead of sorted.
#include "common/torch_ops.h"  // first: the precompiled header (setup.py)

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "hashing/hash.h"
#include "sampling/sample_checks.h"

namespace gnnpart {
namespace {

// The draw of the edge from source `source_gid` into the target whose row key is `row`.
inline uint64_t edge_draw(uint64_t row, int64_t source_gid) {
  return mix64(row ^ (static_cast<uint64_t>(source_gid) * 0x9E3779B97F4A7C15ULL));
}

std::tuple<at::Tensor, at::Tensor> sample_neighbors_cpu(const at::Tensor& indptr_in, const at::Tensor& edge_gids_in,
                                                        const at::Tensor& rows_in, const at::Tensor& row_gids_in,
                                                        int64_t fanout, int64_t key) {
  check_sample_neighbors(indptr_in, edge_gids_in, rows_in, row_gids_in, fanout);
  const at::Tensor indptr = indptr_in.contiguous(), edge_gids = edge_gids_in.contiguous();
  const at::Tensor rows = rows_in.contiguous(), row_gids = row_gids_in.contiguous();
  const int64_t num_rows = indptr.numel() - 1, num_edges = edge_gids.numel(), t = rows.numel();
  const int64_t* ptr = indptr.data_ptr<int64_t>();
  const int64_t* egid = edge_gids.data_ptr<int64_t>();
  const int64_t* row = rows.data_ptr<int64_t>();
  const int64_t* rgid = row_gids.data_ptr<int64_t>();
  TORCH_CHECK(ptr[0] == 0 && ptr[num_rows] == num_edges, "sample_neighbors: `indptr` must start at 0 and end at "
              "len(edge_gids) (", num_edges, ") (got ", ptr[0], " ... ", ptr[num_rows], ")");
  at::Tensor counts = at::empty({t}, indptr.options());
  int64_t* cnt = counts.data_ptr<int64_t>();
  for (int64_t i = 0; i < t; ++i) {
    TORCH_CHECK(row[i] >= 0 && row[i] < num_rows, "sample_neighbors: `rows` entries must be in [0, ", num_rows,
                ") (got ", row[i], " at ", i, ")");
    const int64_t deg = ptr[row[i] + 1] - ptr[row[i]];
    TORCH_CHECK(deg >= 0, "sample_neighbors: `indptr` must not decrease (row ", row[i], ")");
    cnt[i] = std::min(deg, fanout);
  }
  std::vector<int64_t> start(t + 1, 0);
  for (int64_t i = 0; i < t; ++i) start[i + 1] = start[i] + cnt[i];
  at::Tensor edges = at::empty({start[t]}, indptr.options());
  int64_t* out = edges.data_ptr<int64_t>();
  const uint64_t stream = static_cast<uint64_t>(key);
#pragma omp parallel
  {
    std::vector<std::pair<uint64_t, int64_t>> drawn;  // (draw, edge), this thread's
#pragma omp for schedule(dynamic, 256)
    for (int64_t i = 0; i < t; ++i) {
      const int64_t r = row[i], begin = ptr[r], end = ptr[r + 1];
      const uint64_t row_key_value = row_key(stream, rgid[i]);
      drawn.clear();
      for (int64_t e = begin; e < end; ++e) drawn.emplace_back(edge_draw(row_key_value, egid[e]), e);
      auto by_draw = [&](const std::pair<uint64_t, int64_t>& a, const std::pair<uint64_t, int64_t>& b) {
        return a.first != b.first ? a.first < b.first : egid[a.second] < egid[b.second];
      };
      const int64_t k = cnt[i];
      if (static_cast<int64_t>(drawn.size()) > k) {
        std::nth_element(drawn.begin(), drawn.begin() + k, drawn.end(), by_draw);
        drawn.resize(k);
      }
      std::sort(drawn.begin(), drawn.end(), by_draw);
      for (int64_t j = 0; j < k; ++j) out[start[i] + j] = drawn[j].second;
    }
  }
  return {counts, edges};
}

// An open-addressing table from global id to position: a power-of-two capacity at least twice the entries.
class IdTable {
 public:
  explicit IdTable(int64_t entries) {
    int64_t cap = 16;
    while (cap < 2 * entries) cap <<= 1;
    keys_.assign(cap, kEmpty);
    values_.resize(cap);
    mask_ = cap - 1;
  }
  // The position of `key`, inserting `value` if it is new; second: whether it was new.
  std::pair<int64_t, bool> find_or_insert(int64_t key, int64_t value) {
    uint64_t at = mix64(static_cast<uint64_t>(key)) & static_cast<uint64_t>(mask_);
    while (true) {
      if (keys_[at] == kEmpty) {
        keys_[at] = key;
        values_[at] = value;
        return {value, true};
      }
      if (keys_[at] == key) return {values_[at], false};
      at = (at + 1) & static_cast<uint64_t>(mask_);
    }
  }

 private:
  static constexpr int64_t kEmpty = -1;
  std::vector<int64_t> keys_, values_;
  int64_t mask_ = 0;
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> block_sources_cpu(const at::Tensor& targets_in,
                                                                 const at::Tensor& sampled_in) {
  check_long_vector("block_sources", targets_in, "targets");
  check_long_vector("block_sources", sampled_in, "sampled");
  const at::Tensor targets = targets_in.contiguous(), sampled = sampled_in.contiguous();
  const int64_t t = targets.numel(), s = sampled.numel();
  const int64_t* tg = targets.data_ptr<int64_t>();
  const int64_t* sm = sampled.data_ptr<int64_t>();
  IdTable table(t + s);
  std::vector<int64_t> sources(tg, tg + t), first;
  for (int64_t i = 0; i < t; ++i) {
    TORCH_CHECK(tg[i] >= 0, "block_sources: `targets` must be global ids >= 0 (got ", tg[i], " at ", i, ")");
    TORCH_CHECK(table.find_or_insert(tg[i], i).second, "block_sources: `targets` must be distinct (", tg[i],
                " repeats at ", i, ")");
  }
  at::Tensor cols = at::empty({s}, sampled.options());
  int64_t* col = cols.data_ptr<int64_t>();
  for (int64_t j = 0; j < s; ++j) {
    TORCH_CHECK(sm[j] >= 0, "block_sources: `sampled` must be global ids >= 0 (got ", sm[j], " at ", j, ")");
    const auto found = table.find_or_insert(sm[j], static_cast<int64_t>(sources.size()));
    if (found.second) {
      sources.push_back(sm[j]);
      first.push_back(j);
    }
    col[j] = found.first;
  }
  at::Tensor out = at::empty({static_cast<int64_t>(sources.size())}, sampled.options());
  std::copy(sources.begin(), sources.end(), out.data_ptr<int64_t>());
  at::Tensor first_at = at::empty({static_cast<int64_t>(first.size())}, sampled.options());
  std::copy(first.begin(), first.end(), first_at.data_ptr<int64_t>());
  return {out, cols, first_at};
}

}  // namespace

TORCH_LIBRARY_IMPL(gnnpart, CPU, m) {
  m.impl("sample_neighbors", &sample_neighbors_cpu);
  m.impl("block_sources", &block_sources_cpu);
}

}  // namespace gnnpart
