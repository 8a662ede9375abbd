// unitsface: runs a kernel's passes through the tile driver and reduces the result.
#pragma once

#include <limits>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/reduction.hpp"
#include "unitsface/losses/detail/call.hpp"
#include "unitsface/losses/detail/driver.hpp"
#include "unitsface/losses/detail/shard_exchange.hpp"
#include "unitsface/losses/loss_result.hpp"

namespace unitsface::losses::detail {

/// Where a bias kernel's bias gradient goes: d loss / d b = -(1/s) sum of d loss / d c over
/// the pairs using b.
template <class T>
struct bias_layout {
  T scale = T(0);           ///< -1/s
  bool per_column = false;  ///< one bias per reference row (else one scalar)
  index_t size = 0;         ///< 1, or the number of classes
  index_t offset = 0;       ///< the first class of the references (shards)
};

/// out[0] = scale * sum_i v[i] (one thread: B is small; no read-back).
template <class T>
struct sum_into {
  const T* v;
  index_t n;
  T scale;
  T* out;
  UNITSFACE_HD void operator()(index_t) const {
    T acc = T(0);
    for (index_t i = 0; i < n; ++i) acc += v[i];
    out[0] = scale * acc;
  }
};

/// out[k] = sum of v over chunk k of `chunks` (first level of a deterministic two-level sum).
template <class T>
struct chunk_sum {
  const T* v;
  index_t n;
  index_t chunks;
  T* out;
  UNITSFACE_HD void operator()(index_t k) const {
    const index_t per = (n + chunks - 1) / chunks;
    const index_t lo = k * per, hi = lo + per < n ? lo + per : n;
    T acc = T(0);
    for (index_t i = lo; i < hi; ++i) acc += v[i];
    out[k] = acc;
  }
};

template <class T>
struct scale_into {  // out[j] = scale * v[j]
  const T* v;
  T scale;
  T* out;
  UNITSFACE_HD void operator()(index_t j) const { out[j] = scale * v[j]; }
};

/// Every statistics pass of a kernel over all tiles, each followed by its finish step; with
/// `comm`, the statistics of every shard merged before the finish step (the same merged
/// statistics on every rank).
template <class Policy, class T, class K>
void statistics_passes(tile_driver<Policy, T>& drv, const Policy& pol, const K& kernel,
                       typename K::stats* st, collective* comm) {
  for (int pass = 1; pass <= K::stat_passes; ++pass) {
    start_statistics_pass(comm, pol, pass, st, drv.batch());
    drv.statistics_pass(kernel, pass, st);
    if (comm != nullptr) merge_statistics(*comm, pol, st, drv.batch());
    drv.finish_pass(kernel, pass, st);
  }
}

/// Runs kernel `kernel` for call `c` reduced by `red`: the loss (or, where the call says so,
/// the loss into the policy's memory), the gradients the call asks for, and for a bias kernel
/// the bias gradient laid out as `bias` says (into gradients::bias, or read back).
template <class Policy, class T, class K>
loss_result<T> evaluate(tile_driver<Policy, T>& drv, const Policy& pol, const K& kernel,
                        const call<T>& c, reduction red, const bias_layout<T>& bias) {
  const index_t B = drv.batch();
  const bool grad = c.grads != nullptr;
  auto stats = drv.make_stats(kernel);
  auto* st = backends::data_ptr(stats);
  statistics_passes(drv, pol, kernel, st, c.comm);
  auto own_loss = backends::make_buffer<T>(pol, c.per_anchor.empty() ? B : 0);
  T* row_loss = c.per_anchor.empty() ? backends::data_ptr(own_loss) : c.per_anchor.data;
  const T scale_all = red == reduction::mean ? T(1) / T(B) : T(1);
  // The upstream gradient: one factor per anchor (none), or one for the reduced loss.
  const index_t upstream_stride = red == reduction::none ? 1 : 0;
  if (grad) drv.set_reference_gradient(c.grads->weight);
  // Over shards, rank 0 alone counts the kernel's row term; the per-anchor losses are then
  // the sums of the shards'.
  drv.element_pass(kernel, st, row_loss, grad, c.upstream.empty() ? nullptr : c.upstream.data,
                   scale_all, upstream_stride, c.comm == nullptr || c.comm->rank() == 0);
  if (c.comm != nullptr) sum_over_ranks(*c.comm, pol, row_loss, B);

  loss_result<T> out;
  T* loss_out = grad ? c.grads->loss : c.loss_out;
  if (loss_out != nullptr) {
    backends::for_each_index(pol, 1, sum_into<T>{row_loss, B, scale_all, loss_out});
    out.loss = std::numeric_limits<T>::quiet_NaN();  // the value stays in the policy's memory
  } else {
    out.loss = drv.sum(row_loss, B) * scale_all;
  }
  if (grad) {
    // d loss / d x_hat: the sum of every shard's, before the anchors' normalisation.
    if (c.comm != nullptr) {
      sum_over_ranks(*c.comm, pol, drv.normalized_input_gradient(), B * c.grads->input.cols);
    }
    drv.finish(c.grads->input);
    if constexpr (K::has_bias) {
      bias_gradient(drv, pol, bias, c.grads->bias.empty() ? nullptr : c.grads->bias.data, c.comm,
                    out);
    }
  }
  return out;
}

/// d loss / d bias from the gradient sums of the element pass (per column for a bias per
/// column, per anchor for a scalar bias), computed where the data is: into `bias_out` (policy
/// memory), or, where it is null, read back into out.grad_bias.
template <class Policy, class T>
void bias_gradient(const tile_driver<Policy, T>& drv, const Policy& pol, const bias_layout<T>& bias,
                   T* bias_out, collective* comm, loss_result<T>& out) {
  const index_t N = drv.bias_gradient_sum_count();
  const T* colsum = drv.bias_gradient_sums();
  auto own = backends::make_buffer<T>(pol, bias_out != nullptr ? 0 : bias.size);
  T* dst = bias_out != nullptr ? bias_out : backends::data_ptr(own);
  if (bias.per_column) {
    backends::for_each_index(pol, N, scale_into<T>{colsum, bias.scale, dst + bias.offset});
  } else {
    // Two levels, in a fixed order: deterministic, and parallel for large N.
    const index_t chunks = N < 256 ? 1 : 256;
    auto partial = backends::make_buffer<T>(pol, chunks);
    backends::for_each_index(pol, chunks,
                             chunk_sum<T>{colsum, N, chunks, backends::data_ptr(partial)});
    backends::for_each_index(pol, 1,
                             sum_into<T>{backends::data_ptr(partial), chunks, bias.scale, dst});
    // A scalar bias is every shard's: its gradient is the sum of the shards' parts. (A bias per
    // class is the shard's own: each rank writes its classes' entries only.)
    if (comm != nullptr) sum_over_ranks(*comm, pol, dst, 1);
  }
  if (bias_out == nullptr) {
    out.grad_bias.resize(static_cast<std::size_t>(bias.size));
    backends::copy_to_host(pol, dst, bias.size, out.grad_bias.data());
  }
}

/// Per-anchor statistics only (for the data-dependent bias initialisation): runs the
/// kernel's statistics passes (merged over the shards with `comm`) and returns the per-row
/// statistics, read back to the host.
template <class Policy, class T, class K>
std::vector<typename K::stats> statistics(tile_driver<Policy, T>& drv, const Policy& pol,
                                          const K& kernel, collective* comm = nullptr) {
  auto stats = drv.make_stats(kernel);
  auto* st = backends::data_ptr(stats);
  statistics_passes(drv, pol, kernel, st, comm);
  std::vector<typename K::stats> host(static_cast<std::size_t>(drv.batch()));
  backends::copy_to_host(pol, st, drv.batch(), host.data());
  return host;
}

}  // namespace unitsface::losses::detail
