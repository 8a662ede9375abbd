// unitsface benchmarks: the matrix products a loss call cannot avoid (its floor), by the
// backend's own gemm, and the timing both loss benchmarks share (unitsface_bench.cpp,
// backends/bench_backends.hpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include "unitsface/backends/primitives.hpp"

namespace unitsface::bench {

/// Wall seconds of one f().
template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The median of v (the mean of the middle two for an even count; v not empty).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

/// The median wall time of three f().
template <class F>
double median_of_3(F&& f) {
  std::vector<double> t;
  for (int r = 0; r < 3; ++r) t.push_back(seconds(f));
  return median(std::move(t));
}

/// The products of a loss call that has `products` of them, with the full B x C matrix `cos`
/// (x: B x D, w: C x D; gx: B x D, gw: C x D):
///   2  X W^T, then G W (USS-m's input gradient);
///   3  and G^T X (CosFace with its weight gradient);
///   4  X W^T computed twice (CosFace whose cosines exceed the cosine budget: recomputed);
///   5  CosFace's three, then USS-m's two (the embedded step, over the same rows: the cost of a
///      product does not depend on its values).
template <class T, class Policy>
void floor_products(const Policy& pol, matrix_view<const T> x, matrix_view<const T> w,
                    matrix_view<T> cos, matrix_view<T> gx, matrix_view<T> gw, int products) {
  if (products == 5) {
    floor_products(pol, x, w, cos, gx, gw, 3);
    floor_products(pol, x, w, cos, gx, gw, 2);
    return;
  }
  backends::gemm(pol, T(1), x, backends::transpose(w), T(0), cos);
  if (products == 4) backends::gemm(pol, T(1), x, backends::transpose(w), T(0), cos);
  backends::gemm(pol, T(1), matrix_view<const T>(cos), w, T(0), gx);
  if (products >= 3) {
    backends::gemm(pol, T(1), backends::transpose(matrix_view<const T>(cos)), x, T(0), gw);
  }
}

}  // namespace unitsface::bench
