// unitsface: generic implementations of the backend primitives.
//
// Each is written on `for_each_index` (and, for reductions, a host read-back), so that it is
// correct for every policy; a backend overrides only what it can do faster (matrix products
// above all). The functors are structs rather than lambdas so that they also compile as
// device code under nvcc without extended-lambda flags.
#pragma once

#include <cstring>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::backends::generic {

/// f(i) for i in [0, n), in order.
template <class Policy, class F>
void for_each_index(const Policy&, index_t n, F f) {
  for (index_t i = 0; i < n; ++i) f(i);
}

/// Sum of f(i) over [0, n), accumulated in the order of i (deterministic).
template <class Acc, class Policy, class F>
Acc reduce_index(const Policy&, index_t n, F f) {
  Acc acc = Acc(0);
  for (index_t i = 0; i < n; ++i) acc += static_cast<Acc>(f(i));
  return acc;
}

/// An owning, value-initialised (zeroed) buffer in the policy's memory.
template <class T, class Policy>
std::vector<T> make_buffer(const Policy&, index_t n) {
  return std::vector<T>(static_cast<std::size_t>(n));  // value-initialised
}

template <class T, class Policy>
void copy_to_host(const Policy&, const T* src, index_t n, T* dst) {
  if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
}

template <class T, class Policy>
void copy_from_host(const Policy&, const T* src, index_t n, T* dst) {
  if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
}

namespace detail {
template <class T>
struct gemm_row {
  T alpha, beta;
  matrix_view<const T> a, b;
  matrix_view<T> c;
  UNITSFACE_HD void operator()(index_t i) const {
    for (index_t j = 0; j < c.cols; ++j) {
      T acc = T(0);
      for (index_t k = 0; k < a.cols; ++k) acc += a(i, k) * b(k, j);
      // beta == 0 must not read C: it may hold uninitialised memory (0 * NaN = NaN).
      c(i, j) = beta == T(0) ? alpha * acc : alpha * acc + beta * c(i, j);
    }
  }
};
}  // namespace detail

}  // namespace unitsface::backends::generic
