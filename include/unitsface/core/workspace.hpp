// unitsface: memory a training loop keeps across loss calls.
//
// A loss call needs working memory of a size fixed by the problem (the normalised batch, a tile
// of references and of cosines, or all the cosines within the budget, d loss / d x_hat, ...).
// Allocated per call, large buffers cost page faults and their return to the system on every
// step (measured in docs/benchmarks.md). A `workspace` keeps them: `with_workspace(pol, ws)`
// is the policy `pol` whose per-call scratch buffers come from `ws`, so the second and later
// calls of the same shapes allocate nothing, and buffers that a call overwrites before reading
// are not zero-filled.
//
// Scope: host memory (policies with host_memory = true); the scratch of one loss call at a
// time (a workspace is not synchronised: one per thread, or one per training loop). Buffers that
// outlive a call (the feature memory, sampled rows, a global batch) are the policy's own and
// never come from a workspace.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "unitsface/core/config.hpp"

namespace unitsface {

/// Blocks of host memory handed out for the scratch of loss calls and kept when they come
/// back. A request takes the smallest free block that is large enough, else a new block; blocks
/// are 64-byte aligned (a cache line, an AVX-512 vector).
class workspace {
 public:
  workspace() = default;
  workspace(const workspace&) = delete;
  workspace& operator=(const workspace&) = delete;
  ~workspace() {
    for (block& b : blocks_) ::operator delete(b.p, std::align_val_t(alignment));
  }

  static constexpr std::size_t alignment = 64;

  /// Bytes of every block held, free or in use.
  std::size_t bytes_held() const {
    std::size_t n = 0;
    for (const block& b : blocks_) n += b.bytes;
    return n;
  }
  /// How many blocks were allocated from the system so far (a steady training loop stops
  /// adding to it after its first step).
  std::size_t allocations() const { return allocations_; }
  /// Blocks handed out and not yet returned.
  std::size_t in_use() const {
    return std::size_t(
        std::count_if(blocks_.begin(), blocks_.end(), [](const block& b) { return b.used; }));
  }
  /// Returns the free blocks to the system (those in use stay).
  void release() {
    auto keep =
        std::partition(blocks_.begin(), blocks_.end(), [](const block& b) { return b.used; });
    for (auto it = keep; it != blocks_.end(); ++it) {
      ::operator delete(it->p, std::align_val_t(alignment));
    }
    blocks_.erase(keep, blocks_.end());
  }

  /// A block of at least `bytes` bytes, aligned to `alignment`; give it back with release_block.
  void* acquire(std::size_t bytes) {
    bytes = std::max<std::size_t>(bytes, 1);
    block* best = nullptr;
    for (block& b : blocks_) {
      if (!b.used && b.bytes >= bytes && (best == nullptr || b.bytes < best->bytes)) best = &b;
    }
    if (best == nullptr) {
      blocks_.reserve(blocks_.size() + 1);  // first: a throw here leaves nothing allocated
      void* p = ::operator new(bytes, std::align_val_t(alignment));
      blocks_.push_back({p, bytes, false});
      ++allocations_;
      best = &blocks_.back();
    }
    best->used = true;
    return best->p;
  }
  void release_block(void* p) noexcept {
    for (block& b : blocks_) {
      if (b.p == p) {
        b.used = false;
        return;
      }
    }
  }

 private:
  struct block {
    void* p;
    std::size_t bytes;
    bool used;
  };
  std::vector<block> blocks_;
  std::size_t allocations_ = 0;
};

/// An owning handle to n values of T in a block of a workspace (move-only; the block goes back
/// to the workspace when the handle dies). T must be trivially destructible.
template <class T>
class workspace_buffer {
  static_assert(std::is_trivially_destructible_v<T>, "workspace buffers hold trivial types");

 public:
  workspace_buffer() = default;
  /// zeroed: value-initialise the n values (as make_buffer does); otherwise leave the block's
  /// previous contents (for buffers the caller overwrites before reading).
  workspace_buffer(workspace& ws, index_t n, bool value_init) : ws_(&ws), n_(n) {
    if (n_ <= 0) return;
    p_ = static_cast<T*>(ws.acquire(std::size_t(n_) * sizeof(T)));
    if (value_init) {
      std::uninitialized_value_construct_n(p_, std::size_t(n_));
    } else {
      std::uninitialized_default_construct_n(p_, std::size_t(n_));
    }
  }
  workspace_buffer(workspace_buffer&& o) noexcept
      : ws_(o.ws_), p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  workspace_buffer& operator=(workspace_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      ws_ = o.ws_;
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  workspace_buffer(const workspace_buffer&) = delete;
  workspace_buffer& operator=(const workspace_buffer&) = delete;
  ~workspace_buffer() { reset(); }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return std::size_t(n_); }
  bool empty() const { return n_ == 0; }

 private:
  void reset() noexcept {
    if (p_ != nullptr) ws_->release_block(p_);
    p_ = nullptr;
    n_ = 0;
  }
  workspace* ws_ = nullptr;
  T* p_ = nullptr;
  index_t n_ = 0;
};

/// The policy Policy (every primitive of it) with its per-call scratch taken from a workspace
/// (backends::make_scratch, make_uninitialized_scratch).
template <class Policy>
struct workspace_policy : Policy {
  static_assert(Policy::host_memory, "a workspace holds host memory: a host-memory policy only");
  workspace* ws = nullptr;

  template <class T>
  workspace_buffer<T> make_scratch(index_t n) const {
    return workspace_buffer<T>(*ws, n, true);
  }
  template <class T>
  workspace_buffer<T> make_uninitialized_scratch(index_t n) const {
    return workspace_buffer<T>(*ws, n, false);
  }
};

/// `pol` drawing the scratch of the calls it is given to from `ws`, which must outlive them.
template <class Policy>
workspace_policy<Policy> with_workspace(const Policy& pol, workspace& ws) {
  workspace_policy<Policy> p{pol};
  p.ws = &ws;
  return p;
}

}  // namespace unitsface
