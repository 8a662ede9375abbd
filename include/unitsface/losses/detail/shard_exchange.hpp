// unitsface: what a loss over one shard of the references exchanges with the other shards
// (through unitsface::collective), and how it combines what it receives.
//
// Everything is all-gathered and combined in rank order on every rank (collective.hpp says
// why); the combining runs on the policy, where the data is.
#pragma once

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/collective.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::detail {

/// Before a later statistics pass, a rank other than the first keeps of the merged
/// statistics only what the kernel derived from them (S::carried): the merge after the pass
/// then counts the earlier passes' sums once, from rank 0.
template <class S>
struct carry_stats {
  S* stats;
  UNITSFACE_HD void operator()(index_t i) const { stats[i] = stats[i].carried(); }
};

/// out[i] = the rank-ordered merge of every rank's statistics of anchor i (rank 0's caches).
template <class S>
struct merge_gathered_stats {
  const S* all;  // ranks x n
  index_t n;
  int ranks;
  S* out;
  UNITSFACE_HD void operator()(index_t i) const {
    S m = all[i];
    for (int r = 1; r < ranks; ++r) m.merge(all[index_t(r) * n + i]);
    out[i] = m;
  }
};

/// out[i] = sum over ranks of all[r * n + i], added in rank order.
template <class T>
struct sum_gathered {
  const T* all;  // ranks x n
  index_t n;
  int ranks;
  T* out;
  UNITSFACE_HD void operator()(index_t i) const {
    T acc = all[i];
    for (int r = 1; r < ranks; ++r) acc += all[index_t(r) * n + i];
    out[i] = acc;
  }
};

/// Replaces the B statistics at `stats` (policy memory) by their merge over the ranks.
template <class Policy, row_statistics S>
void merge_statistics(collective& comm, const Policy& pol, S* stats, index_t B) {
  auto all = backends::make_buffer<S>(pol, B * comm.size());
  comm.all_gather(stats, backends::data_ptr(all), sizeof(S) * std::size_t(B));
  backends::for_each_index(pol, B,
                           merge_gathered_stats<S>{backends::data_ptr(all), B, comm.size(), stats});
}

/// Replaces the n values at `v` (policy memory) by their sum over the ranks.
template <class Policy, class T>
void sum_over_ranks(collective& comm, const Policy& pol, T* v, index_t n) {
  if (comm.size() == 1) return;
  auto all = backends::make_buffer<T>(pol, n * comm.size());
  comm.all_gather(v, backends::data_ptr(all), sizeof(T) * std::size_t(n));
  backends::for_each_index(pol, n, sum_gathered<T>{backends::data_ptr(all), n, comm.size(), v});
}

/// Before statistics pass `pass` of a sharded loss: ranks other than the first carry only
/// what the kernel derived from the merged statistics into it (carry_stats).
template <class Policy, row_statistics S>
void start_statistics_pass(collective* comm, const Policy& pol, int pass, S* stats, index_t B) {
  if (comm == nullptr || pass == 1 || comm->rank() == 0) return;
  backends::for_each_index(pol, B, carry_stats<S>{stats});
}

}  // namespace unitsface::losses::detail
