// unitsface: runs a kernel's passes through the tile driver and reduces the result.
#pragma once

#include <limits>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/reduction.hpp"
#include "unitsface/losses/detail/driver.hpp"
#include "unitsface/losses/detail/shard_exchange.hpp"

namespace unitsface::losses::detail {

template <class T>
struct eval_request {
  reduction red = reduction::mean;
  bool grad = false;
  matrix_view<T> grad_x;        ///< B x D (policy memory), written when grad
  matrix_view<T> grad_refs;     ///< N x D for learnable references (policy memory), or empty
  const T* upstream = nullptr;  ///< d outer / d loss_i (none, B values) or d outer / d loss (mean,
                                ///< sum, 1 value), policy memory; null = 1
  T* per_anchor = nullptr;      ///< B per-anchor losses (policy memory), or null
  T* loss_out = nullptr;        ///< policy memory for the reduced loss, or null: read back
  // Bias kernels: d loss / d b = -(1/s) sum of d loss / d c over the pairs using b.
  T bias_scale = T(0);           ///< -1/s
  bool bias_per_column = false;  ///< one bias per reference row (else one scalar)
  index_t bias_size = 0;         ///< 1, or the number of classes
  index_t bias_offset = 0;       ///< the first class of the references (shards)
  T* bias_out = nullptr;         ///< policy memory for d loss / d bias, or null: read back
  /// The other shards of the references (a class-sharded loss), or null: these references
  /// are the whole set.
  collective* comm = nullptr;
};

template <class T>
struct eval_result {
  T loss = T(0);             ///< reduced loss (the sum of per-anchor losses for none)
  std::vector<T> grad_bias;  ///< host copy of d loss / d bias (bias kernels, no bias_out)
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
                       row_stats<T>* st, collective* comm) {
  for (int pass = 1; pass <= K::stat_passes; ++pass) {
    start_statistics_pass(comm, pol, pass, st, drv.batch());
    drv.statistics_pass(kernel, pass, st);
    if (comm != nullptr) merge_statistics(*comm, pol, st, drv.batch());
    drv.finish_pass(kernel, pass, st);
  }
}

template <class Policy, class T, class K>
eval_result<T> evaluate(tile_driver<Policy, T>& drv, const Policy& pol, const K& kernel,
                        const eval_request<T>& req) {
  const index_t B = drv.batch();
  auto stats = drv.make_stats();
  auto* st = backends::data_ptr(stats);
  statistics_passes(drv, pol, kernel, st, req.comm);
  auto own_loss = backends::make_buffer<T>(pol, req.per_anchor != nullptr ? 0 : B);
  T* row_loss = req.per_anchor != nullptr ? req.per_anchor : backends::data_ptr(own_loss);
  const T scale_all = req.red == reduction::mean ? T(1) / T(B) : T(1);
  // The upstream gradient: one factor per anchor (none), or one for the reduced loss.
  const index_t upstream_stride = req.red == reduction::none ? 1 : 0;
  if (req.grad) drv.set_reference_gradient(req.grad_refs);
  // Over shards, rank 0 alone counts the kernel's row term; the per-anchor losses are then
  // the sums of the shards'.
  drv.element_pass(kernel, st, row_loss, req.grad, req.upstream, scale_all, upstream_stride,
                   req.comm == nullptr || req.comm->rank() == 0);
  if (req.comm != nullptr) sum_over_ranks(*req.comm, pol, row_loss, B);

  eval_result<T> out;
  const T loss_scale = req.red == reduction::mean ? T(1) / T(B) : T(1);
  if (req.loss_out != nullptr) {
    backends::for_each_index(pol, 1, sum_into<T>{row_loss, B, loss_scale, req.loss_out});
    out.loss = std::numeric_limits<T>::quiet_NaN();  // the value stays in the policy's memory
  } else {
    out.loss = drv.sum(row_loss, B) * loss_scale;
  }
  if (req.grad) {
    // d loss / d x_hat: the sum of every shard's, before the anchors' normalisation.
    if (req.comm != nullptr) {
      sum_over_ranks(*req.comm, pol, drv.normalized_input_gradient(), B * req.grad_x.cols);
    }
    drv.finish(req.grad_x);
    if constexpr (K::has_bias) bias_gradient(drv, pol, req, out);
  }
  return out;
}

/// d loss / d bias from the gradient sums of the element pass (per column for a bias per
/// column, per anchor for a scalar bias), computed where the data is.
template <class Policy, class T>
void bias_gradient(const tile_driver<Policy, T>& drv, const Policy& pol, const eval_request<T>& req,
                   eval_result<T>& out) {
  const index_t N = drv.bias_gradient_sum_count();
  const T* colsum = drv.bias_gradient_sums();
  auto own = backends::make_buffer<T>(pol, req.bias_out != nullptr ? 0 : req.bias_size);
  T* dst = req.bias_out != nullptr ? req.bias_out : backends::data_ptr(own);
  if (req.bias_per_column) {
    backends::for_each_index(pol, N, scale_into<T>{colsum, req.bias_scale, dst + req.bias_offset});
  } else {
    // Two levels, in a fixed order: deterministic, and parallel for large N.
    const index_t chunks = N < 256 ? 1 : 256;
    auto partial = backends::make_buffer<T>(pol, chunks);
    backends::for_each_index(pol, chunks,
                             chunk_sum<T>{colsum, N, chunks, backends::data_ptr(partial)});
    backends::for_each_index(pol, 1,
                             sum_into<T>{backends::data_ptr(partial), chunks, req.bias_scale, dst});
    // A scalar bias is every shard's: its gradient is the sum of the shards' parts. (A bias per
    // class is the shard's own: each rank writes its classes' entries only.)
    if (req.comm != nullptr) sum_over_ranks(*req.comm, pol, dst, 1);
  }
  if (req.bias_out == nullptr) {
    out.grad_bias.resize(static_cast<std::size_t>(req.bias_size));
    backends::copy_to_host(pol, dst, req.bias_size, out.grad_bias.data());
  }
}

/// Per-anchor statistics only (for the data-dependent bias initialisation): runs the
/// kernel's statistics passes (merged over the shards with `comm`) and returns the per-row
/// statistics, read back to the host.
template <class Policy, class T, class K>
std::vector<row_stats<T>> statistics(tile_driver<Policy, T>& drv, const Policy& pol,
                                     const K& kernel, collective* comm = nullptr) {
  auto stats = drv.make_stats();
  auto* st = backends::data_ptr(stats);
  statistics_passes(drv, pol, kernel, st, comm);
  std::vector<row_stats<T>> host(static_cast<std::size_t>(drv.batch()));
  backends::copy_to_host(pol, st, drv.batch(), host.data());
  return host;
}

}  // namespace unitsface::losses::detail
