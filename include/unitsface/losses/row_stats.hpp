// unitsface: what a loss kernel keeps per anchor while the driver walks the references, and
// what one element of the loss is.
#pragma once

#include <concepts>
#include <type_traits>

#include "unitsface/core/config.hpp"
#include "unitsface/core/math.hpp"

namespace unitsface::losses {

/// The contract of a kernel's per-anchor statistics (each kernel declares its own type,
/// `K::stats`, holding only what its passes gather: nothing for the per-pair losses, two
/// logsumexps for the log-of-sums USS, ...):
///   S{}           the empty state, before any pair (logsumexps at -inf, counts and sums 0)
///   merge(o)      the statistics of two disjoint sets of references, combined exactly: the
///                 statistics of shards of the references merge into those of the whole —
///                 the step a class-sharded (multi-device) loss all-gathers between passes
///   carried()     what a shard other than the first keeps of merged statistics before a
///                 later pass (the values derived from them), so that the merge after that
///                 pass counts the earlier passes' sums once, from the first shard
///   count(p, n)   the first pass's count of an anchor's positives and negatives (kernels
///                 that do not read them ignore it)
/// Trivially copyable, since statistics travel between ranks as bytes, and with no padding
/// (counts are kept as T for that): padding bytes are indeterminate, and a device buffer of
/// them differs from run to run (the simulated device reports it as a race).
template <class S>
concept row_statistics = std::default_initializable<S> && std::is_trivially_copyable_v<S> &&
    requires(S s, const S cs, index_t n) {
  s.merge(cs);
  { cs.carried() } -> std::same_as<S>;
  s.count(n, n);
};

/// The statistics of a kernel without statistics passes.
struct no_row_stats {
  UNITSFACE_HD void merge(const no_row_stats&) {}
  UNITSFACE_HD no_row_stats carried() const { return {}; }
  UNITSFACE_HD void count(index_t, index_t) {}
};

/// One element's contribution: its loss term and d(loss)/d(cosine).
template <class T>
struct element_value {
  T loss;
  T dcos;
};

}  // namespace unitsface::losses
