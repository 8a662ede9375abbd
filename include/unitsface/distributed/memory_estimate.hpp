// unitsface: the memory one rank of a class-sharded loss needs.
//
// What a rank holds is its shard of the references (class weights or memory rows, and their
// gradient), the whole (global) batch with its labels and d loss / d x, the biases, and the
// library's working memory during a call: the tile driver's buffers (the normalised batch,
// one tile of references and of cosines, d loss / d x_hat, the row statistics, per-column
// gradient sums for a bias) and the buffers that receive the other ranks' parts (statistics,
// per-anchor losses, partial d loss / d x_hat: ranks x B x D, the largest). The formulas
// follow the allocations of losses/detail/driver.hpp, evaluate.hpp and shard_exchange.hpp;
// the working-memory figure is an upper bound of the peak (it adds buffers that do not live
// at the same time), checked against the measured peak in tests/losses/test_sharded.cpp.
// Optimiser state, and whatever the caller's framework holds, are not counted.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/distributed/shard.hpp"
#include "unitsface/losses/detail/driver.hpp"
#include "unitsface/losses/loss_result.hpp"
#include "unitsface/losses/references.hpp"
#include "unitsface/losses/required_bytes.hpp"

namespace unitsface::distributed {

/// The biases of a loss (losses/required_bytes.hpp).
using bias_kind = losses::bias_kind;

/// A class-sharded loss call to size.
struct shard_problem {
  index_t batch = 0;    ///< B, the global batch (every rank holds all of it)
  index_t classes = 0;  ///< C
  index_t dim = 0;      ///< D
  int ranks = 1;
  int rank = -1;  ///< the rank to size; -1: the largest shard of the even split
  losses::reference_kind references = losses::reference_kind::class_weights;
  bias_kind bias = bias_kind::none;
  bool gradients = true;     ///< forward_backward (else forward)
  index_t tile_columns = 0;  ///< the losses' evaluation_options::tile_columns (0: default)
  /// Whether the call makes statistics passes, which keep the cosines within the budget: the
  /// softmax heads, ss_softmax, the log-of-sums USS, and a binary loss (USS, SS-BCE, BCE,
  /// UCE) whose bias is initialised from the data in this call; false for the per-pair
  /// binary losses otherwise.
  bool statistics = true;
  /// the losses' evaluation_options::cosine_cache_bytes
  std::size_t cosine_cache_bytes = losses::evaluation_options{}.cosine_cache_bytes;
  /// sampling_options::rate: the negatives kept per step (sampled_shard), in (0, 1]. Sized
  /// for the expected count of kept classes with every label of the batch on this rank.
  double sample_rate = 1.0;
  /// The rank's policy keeps its data in device memory (cuda_policy), where class weights are
  /// normalised tile by tile; on the CPUs the driver keeps their norms and inverse norms
  /// instead (tile_driver::uses_raw_references).
  bool device = false;
};

/// Bytes, by what holds them.
struct memory_estimate {
  index_t shard_classes = 0;           ///< the rank's classes
  index_t evaluated_classes = 0;       ///< of which a step evaluates (sampled: kept)
  std::size_t references = 0;          ///< its class weights, or memory rows and flags
  std::size_t reference_gradient = 0;  ///< d loss / d W of its rows (class weights)
  std::size_t batch = 0;               ///< the global batch, its labels, d loss / d x
  std::size_t bias = 0;                ///< the biases (all C on every rank) and their gradient
  std::size_t working = 0;             ///< the library's buffers during a call (upper bound)
  std::size_t exchange = 0;            ///< of `working`: what receives the other ranks' parts
  std::size_t total() const { return references + reference_gradient + batch + bias + working; }
};

/// The memory of one rank for scalar type T (float, double).
template <class T>
memory_estimate estimate_memory(const shard_problem& p) {
  using unitsface::detail::require;
  require(p.batch > 0, "batch", "must be > 0");
  require(p.classes > 0, "classes", "must be > 0");
  require(p.dim > 0, "dim", "must be > 0");
  require(p.ranks > 0, "ranks", "must be > 0");
  require(p.rank >= -1 && p.rank < p.ranks, "rank",
          std::to_string(p.rank) + " is not -1 or in [0, " + std::to_string(p.ranks) + ")");
  require(p.references != losses::reference_kind::in_batch, "references",
          "in-batch pairs are not sharded");
  require(p.tile_columns >= 0, "tile_columns", "must be >= 0");
  require(p.sample_rate > 0.0 && p.sample_rate <= 1.0, "sample_rate", "must lie in (0, 1]");
  const auto sz = [](index_t n, std::size_t bytes) { return std::size_t(n) * bytes; };
  const std::size_t t = sizeof(T), idx = sizeof(index_t);
  const index_t B = p.batch, C = p.classes, D = p.dim;
  const index_t R = p.ranks;
  const index_t N = even_shard(C, p.ranks, p.rank < 0 ? 0 : p.rank).count;  // rank 0: largest

  // Sampled negatives: the kept rows, every positive (at most B) and rate x the others.
  const index_t K = p.sample_rate < 1.0
                        ? std::min<index_t>(N, index_t(std::ceil(p.sample_rate * double(N))) + B)
                        : N;
  memory_estimate e;
  e.shard_classes = N;
  e.evaluated_classes = K;
  const bool memory = p.references == losses::reference_kind::memory;
  e.references = sz(N * D, t) + (memory ? sz(N, 1) : 0);
  e.reference_gradient = p.gradients && !memory ? sz(N * D, t) : 0;
  e.batch = sz(B * D, t) + sz(B, idx) + (p.gradients ? sz(B * D, t) : 0);
  const index_t nbias = losses::detail::bias_values(p.bias, C);
  e.bias = sz(nbias, t) * (p.gradients ? 2 : 1);

  // The tile driver and the evaluation over the K evaluated rows (losses/required_bytes.hpp).
  losses::detail::working_problem wp;
  wp.batch = B;
  wp.dim = D;
  wp.references = K;
  wp.masked = memory;
  wp.gradients = p.gradients;
  wp.bias_classes = C;
  // The loss is not named here: the largest statistics of any kernel.
  wp.loss = {p.bias, p.statistics, p.tile_columns, p.cosine_cache_bytes,
             losses::detail::largest_row_stats_bytes<T>()};
  // class weights used as they are on the CPUs, but not sampled rows, nor under a bias per
  // class (make_driver's raw_weights)
  const bool sampled = K < N || p.sample_rate < 1.0;
  wp.raw_references = !p.device && !memory && !sampled && p.bias != bias_kind::per_class;
  std::size_t w = losses::detail::working_bytes<T>(wp);
  if (sampled) {
    // sampled_shard: the kept rows, their classes and flags, their weight gradient.
    w += sz(K * D, t) + sz(K, idx) + (memory ? sz(K, 1) : 0) +
         (p.gradients && !memory ? sz(K * D, t) : 0);
  }
  // What the other ranks send (shard_exchange.hpp): statistics, per-anchor losses, partial
  // d loss / d x_hat, a scalar bias gradient.
  e.exchange = sz(R * B, wp.loss.stats_bytes) + sz(R * B, t) +
               (p.gradients ? sz(R * B * D, t) + sz(R, t) : 0);
  e.working = w + e.exchange;
  return e;
}

}  // namespace unitsface::distributed
