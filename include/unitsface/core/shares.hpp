// unitsface core: work shared out among the host's threads, for reductions that run on the host
// beside a backend (the protocols reduce each similarity tile there, whatever the policy).
//
// The work [0, n) is cut into `shares` contiguous shares, each with its own state; the caller
// merges the states in share order. The cut depends on `shares` only, never on how many threads
// actually ran, so a result is the same for a given share count whether the shares ran on
// OpenMP threads (a translation unit compiled with OpenMP) or one after another (without it).
#pragma once

#include <exception>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "unitsface/core/config.hpp"

namespace unitsface::detail {

/// The shares to cut host work into: `requested` when > 0, else OpenMP's default team size (1
/// without OpenMP).
inline index_t host_shares(index_t requested) {
  if (requested > 0) return requested;
#if defined(_OPENMP)
  return index_t(omp_get_max_threads());
#else
  return 1;
#endif
}

/// f(share, begin, end) for each share k of [0, n): [n k / shares, n (k + 1) / shares), possibly
/// empty. Shares run on OpenMP threads when compiled with OpenMP, one after another otherwise.
/// An exception thrown by f does not cross the parallel region (which would terminate): it is
/// rethrown after every share has ended, the lowest share's first.
template <class F>
void for_each_share(index_t n, index_t shares, F&& f) {
  if (shares <= 1) {
    f(index_t(0), index_t(0), n);
    return;
  }
  std::vector<std::exception_ptr> failed(static_cast<std::size_t>(shares));
  const auto run = [&](index_t k) {
    try {
      f(k, n * k / shares, n * (k + 1) / shares);
    } catch (...) {
      failed[static_cast<std::size_t>(k)] = std::current_exception();
    }
  };
#if defined(_OPENMP)
#pragma omp parallel for num_threads(int(shares)) schedule(static, 1)
  for (index_t k = 0; k < shares; ++k) run(k);
#else
  for (index_t k = 0; k < shares; ++k) run(k);
#endif
  for (const auto& e : failed)
    if (e) std::rethrow_exception(e);
}

}  // namespace unitsface::detail
