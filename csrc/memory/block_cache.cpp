// A cache of large CPU blocks in front of PyTorch's CPU allocator (gnnpart.block_cache).
//
// A full-graph epoch allocates the same few [nodes, hidden] tensors every step: layer outputs, their dropout,
// the gradients flowing back. glibc serves each block above its mmap threshold (at most 32 MiB) with a fresh
// mmap and returns it with munmap when the tensor dies, so every epoch faults every page of every such tensor in
// again, and the kernel zeroes it: on a 1M-node graph of width 256 that is several GB of page faults an epoch.
// Like the CUDA caching allocator, this one keeps a freed block of at least `min_bytes` for the next request of
// the same size; smaller requests go to the allocator it replaced. Blocks are matched by size class (the size
// rounded up to one of 16 steps an octave, at most 1/16 more): the tensors of one epoch repeat the shapes of the
// last, and a mini-batch's vary a little from step to step, so they match. What it holds (live blocks and cached ones) stays
// within (1 + `headroom`) x the most its live blocks ever needed: a request that finds no block of its size
// first frees cached blocks of other sizes as far as that bound asks (headroom 0: the peak is the one without
// the cache).
//
// The cache is one leaked object: tensors may be freed after static destructors ran, so it must outlive them.
#include "common/torch_ops.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <iterator>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

struct BlockCache final : c10::Allocator {
  std::mutex mu;
  c10::Allocator* previous = nullptr;  // the allocator replaced (small blocks, and the one restored)
  bool enabled = false;
  int64_t min_bytes = 0;
  double headroom = 0.0;
  int64_t cached = 0, live = 0, peak_live = 0, hits = 0, misses = 0, evicted = 0;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // size -> blocks ready for reuse
  std::unordered_map<void*, size_t> sizes;                     // every block this cache handed out

  // The size a block of `n` bytes is kept at: `n` rounded up to the next of 16 steps an octave (at most 1/16 more),
  // so that tensors whose sizes vary a little from step to step (a mini-batch's blocks) reuse each other's blocks.
  // A power of two, or a multiple of a sixteenth of its octave, is its own size.
  static size_t size_class(size_t n) {
    if (n < 64) return n;
    int octave = 63 - __builtin_clzll(static_cast<unsigned long long>(n));
    const size_t step = static_cast<size_t>(1) << (octave - 4);
    return (n + step - 1) / step * step;
  }

  c10::DataPtr allocate(size_t requested) override {
    c10::Allocator* fallback = nullptr;
    void* p = nullptr;
    const size_t n = size_class(requested);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!enabled || static_cast<int64_t>(requested) < min_bytes) {
        fallback = previous;
      } else {
        auto it = free_blocks.find(n);
        if (it != free_blocks.end() && !it->second.empty()) {
          p = it->second.back();
          it->second.pop_back();
          cached -= static_cast<int64_t>(n);
          ++hits;
        } else {
          ++misses;
          peak_live = std::max(peak_live, live + static_cast<int64_t>(n));
          const int64_t limit = peak_live + static_cast<int64_t>(headroom * static_cast<double>(peak_live));
          evict(live + cached + static_cast<int64_t>(n) - limit);
        }
      }
    }
    if (fallback != nullptr) return fallback->allocate(requested);
    if (p == nullptr) p = c10::alloc_cpu(n);  // outside the lock: the first touch is the caller's
    {
      std::lock_guard<std::mutex> lock(mu);
      sizes[p] = n;
      live += static_cast<int64_t>(n);
    }
    return {p, p, &BlockCache::release, c10::Device(c10::DeviceType::CPU)};
  }

  static void release(void* p);

  c10::DeleterFnPtr raw_deleter() const override { return &BlockCache::release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  // frees cached blocks (of other sizes: this one has none) until `n` bytes are freed or none is left (called
  // with `mu` held)
  void evict(int64_t n) {
    int64_t freed = 0;
    for (auto it = free_blocks.begin(); it != free_blocks.end() && freed < n;) {
      auto& blocks = it->second;
      while (!blocks.empty() && freed < n) {
        c10::free_cpu(blocks.back());
        blocks.pop_back();
        freed += static_cast<int64_t>(it->first);
        ++evicted;
      }
      it = blocks.empty() ? free_blocks.erase(it) : std::next(it);
    }
    cached -= freed;
  }

  // frees every cached block (called with `mu` held)
  void drop_cached() {
    for (auto& entry : free_blocks)
      for (void* p : entry.second) c10::free_cpu(p);
    free_blocks.clear();
    cached = 0;
  }
};

BlockCache& cache() {
  static BlockCache* instance = new BlockCache();  // leaked on purpose (see the top of the file)
  return *instance;
}

void BlockCache::release(void* p) {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.sizes.find(p);
  TORCH_INTERNAL_ASSERT(it != c.sizes.end(), "gnnpart block cache: freeing a block it never handed out");
  const size_t n = it->second;
  c.sizes.erase(it);
  c.live -= static_cast<int64_t>(n);
  if (c.enabled) {
    c.free_blocks[n].push_back(p);
    c.cached += static_cast<int64_t>(n);
  } else {
    c10::free_cpu(p);
  }
}

void block_cache_enable(int64_t min_bytes, double headroom) {
  TORCH_CHECK(min_bytes >= 1, "block_cache_enable: `min_bytes` must be at least 1 (got ", min_bytes, ")");
  TORCH_CHECK(headroom >= 0.0, "block_cache_enable: `headroom` must be at least 0 (got ", headroom, ")");
  BlockCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.min_bytes = min_bytes;
    c.headroom = headroom;
    if (c.enabled) return;
    c.previous = c10::GetCPUAllocator();
    c.enabled = true;
  }
  c10::SetCPUAllocator(&c, /*priority=*/1);
}

void block_cache_disable() {
  BlockCache& c = cache();
  c10::Allocator* previous = nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.enabled) return;
    c.enabled = false;  // blocks still alive come back through release(), which then frees them
    c.drop_cached();
    previous = c.previous;
  }
  c10::SetCPUAllocator(previous, /*priority=*/1);
}

void block_cache_empty() {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.drop_cached();
}

// [enabled, min_bytes, cached bytes, live bytes, peak live bytes, hits, misses, evicted blocks]
std::vector<int64_t> block_cache_stats() {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.enabled ? 1 : 0, c.min_bytes, c.cached, c.live, c.peak_live, c.hits, c.misses, c.evicted};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(gnnpart, m) {
  m.def("block_cache_enable(int min_bytes, float headroom) -> ()", &block_cache_enable);
  m.def("block_cache_disable() -> ()", &block_cache_disable);
  m.def("block_cache_empty() -> ()", &block_cache_empty);
  m.def("block_cache_stats() -> int[]", &block_cache_stats);
}
