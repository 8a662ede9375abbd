// unitsface: the element-wise loop and the reduction of the host backends that run on every
// core (eigen, xtensor): OpenMP threads when the translation unit is compiled with OpenMP, the
// calling thread otherwise.
#pragma once

#include "unitsface/core/config.hpp"

namespace unitsface::backends::detail {

/// f(i) for i in [0, n). Each index writes its own outputs (the driver's passes are written
/// so), so the results do not depend on the number of threads. Small loops stay on the calling
/// thread: a parallel region costs microseconds.
template <class F>
void openmp_for_each_index(index_t n, F& f) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n >= 64)
  for (index_t i = 0; i < n; ++i) f(i);
#else
  for (index_t i = 0; i < n; ++i) f(i);
#endif
}

/// The sum of f(i) over [0, n) as Acc: in 64 equal blocks of consecutive indices (fewer when
/// n < 64), each summed in order by one thread, the blocks' sums then added in order, as the
/// thrust_omp backend groups it: the result does not depend on the number of threads. Short
/// sums (n < 4096, the per-anchor losses of a batch) stay on the calling thread in one
/// sequence, the generic reduce_index's. The value checks of a loss call are such a sum over
/// every reference row: 85,742 rows of 512 floats took 19 ms on one thread.
template <class Acc, class F>
Acc openmp_reduce_index(index_t n, F& f) {
  Acc acc = Acc(0);
#if defined(_OPENMP)
  if (n >= 4096) {
    constexpr index_t blocks = 64;
    Acc partial[blocks];
#pragma omp parallel for schedule(static)
    for (index_t b = 0; b < blocks; ++b) {
      Acc part = Acc(0);
      for (index_t i = n * b / blocks; i < n * (b + 1) / blocks; ++i)
        part += static_cast<Acc>(f(i));
      partial[b] = part;
    }
    for (index_t b = 0; b < blocks; ++b) acc += partial[b];
    return acc;
  }
#endif
  for (index_t i = 0; i < n; ++i) acc += static_cast<Acc>(f(i));
  return acc;
}

}  // namespace unitsface::backends::detail
