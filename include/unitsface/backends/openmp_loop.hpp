// unitsface: the element-wise loop of the host backends that run on every core (eigen,
// xtensor): OpenMP threads when the translation unit is compiled with OpenMP, the calling
// thread otherwise.
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

}  // namespace unitsface::backends::detail
