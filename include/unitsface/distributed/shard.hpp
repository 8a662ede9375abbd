// unitsface: how the classes are split between the ranks of a class-sharded loss.
#pragma once

#include <span>
#include <string>

#include "unitsface/core/error.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::distributed {

/// Classes [first, first + count) of `total`: one rank's rows of the class weights, of the
/// per-class biases and of the feature memory.
using class_shard = losses::class_range;

/// The even split of `total` classes over `ranks` ranks, in rank order: the first
/// total % ranks ranks hold one class more (PartialFC's split). A rank may hold none
/// (total < ranks).
inline class_shard even_shard(index_t total, int ranks, int rank) {
  unitsface::detail::require(total > 0, "total", "must be > 0");
  unitsface::detail::require(ranks > 0, "ranks", "must be > 0");
  unitsface::detail::require(
      rank >= 0 && rank < ranks, "rank",
      std::to_string(rank) + " is not in [0, " + std::to_string(ranks) + ")");
  const index_t base = total / ranks, extra = total % ranks;
  const index_t first = rank * base + (rank < extra ? rank : extra);
  return class_shard{first, base + (rank < extra ? 1 : 0), total};
}

/// Rank `rank`'s shard of the split given by `bounds` (ranks + 1 values, 0 first, the number
/// of classes last, non-decreasing: rank r holds [bounds[r], bounds[r + 1]); uneven splits
/// and empty shards are allowed).
inline class_shard shard_from_bounds(std::span<const index_t> bounds, int rank) {
  unitsface::detail::require(bounds.size() >= 2, "bounds", "needs at least two values");
  unitsface::detail::require(bounds.front() == 0, "bounds", "must start at 0");
  for (std::size_t k = 1; k < bounds.size(); ++k) {
    unitsface::detail::require(bounds[k] >= bounds[k - 1], "bounds", "must not decrease");
  }
  unitsface::detail::require(bounds.back() > 0, "bounds", "must end at the number of classes > 0");
  unitsface::detail::require(
      rank >= 0 && std::size_t(rank) + 1 < bounds.size(), "rank",
      std::to_string(rank) + " has no shard among " + std::to_string(bounds.size() - 1));
  const auto r = std::size_t(rank);
  return class_shard{bounds[r], bounds[r + 1] - bounds[r], bounds.back()};
}

}  // namespace unitsface::distributed
