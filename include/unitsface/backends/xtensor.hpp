// unitsface: the xtensor backend and views of xtensor containers.
//
// Requires xtensor 0.24. `xtensor_policy` runs on host memory; its matrix products go
// through the C BLAS interface (OpenBLAS) when the program defines UNITSFACE_USE_CBLAS and
// links a BLAS (the CMake target unitsface_backend_xtensor does both), and through the
// generic loops otherwise; its element-wise passes (for_each_index) run on OpenMP threads
// when compiled with OpenMP (as that target is where OpenMP is found). Everything else is the
// generic host code, as for Eigen.
//
// The adapters in `unitsface::xtensor_adapt` view the caller's containers without copying:
// xt::xtensor<T, N>, xt::xarray<T> and the results of xt::adapt, row- or column-major (any
// strides xtensor holds are carried into the view).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "unitsface/backends/openmp_loop.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/view.hpp"

#if defined(UNITSFACE_USE_CBLAS)
#include "unitsface/backends/cblas.hpp"
#endif

namespace unitsface {

/// Host execution on all cores: BLAS matrix products (when built with UNITSFACE_USE_CBLAS),
/// element-wise passes and sums over OpenMP threads (when compiled with OpenMP; each index writes
/// its own outputs, so these passes do not depend on the number of threads), the generic code for
/// the rest.
struct xtensor_policy : host_policy {
  static constexpr const char* name = "xtensor";
  /// Whether gemm goes to BLAS (views without a unit stride still use the generic loops).
#if defined(UNITSFACE_USE_CBLAS)
  static constexpr bool uses_blas = true;
#else
  static constexpr bool uses_blas = false;
#endif

  template <class F>
  void for_each_index(index_t n, F f) const {
    backends::detail::openmp_for_each_index(n, f);
  }

  /// Sums in 64 fixed blocks on OpenMP threads (openmp_reduce_index): independent of the
  /// number of threads.
  template <class Acc, class F>
  Acc reduce_index(index_t n, F f) const {
    return backends::detail::openmp_reduce_index<Acc>(n, f);
  }

  template <class T>
  void gemm(T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
            matrix_view<T> c) const {
#if defined(UNITSFACE_USE_CBLAS)
    if (backends::blas::gemm(alpha, a, b, beta, c)) return;
#endif
    backends::generic::gemm(*this, alpha, a, b, beta, c);
  }
};

inline constexpr xtensor_policy xtensor_par{};

/// Views of xtensor containers (xt::xtensor, xt::xarray, xt::adapt results). The name
/// avoids clashing with xtensor's own namespace `xt`.
namespace xtensor_adapt {

namespace detail {
template <class E>
concept strided_container = requires(E& e) {
  e.data();
  e.shape();
  e.strides();
  e.dimension();
  e.data_offset();
};

template <class E>
void require_dimension(const E& e, std::size_t want, std::string_view argument) {
  if (e.dimension() != want) {
    throw invalid_argument(argument, "expected a " + std::to_string(want) +
                                         "-D xtensor expression, got " +
                                         std::to_string(e.dimension()) + "-D");
  }
}
}  // namespace detail

/// A 2-D container as a matrix_view (mutable when the container is). xtensor strides are in
/// elements; a dimension of extent 1 may carry stride 0, which a view accepts.
/// Throws unitsface::invalid_argument naming `argument` when `e` is not 2-D.
template <detail::strided_container E>
auto view(E& e, std::string_view argument = "matrix") {
  using value = std::remove_reference_t<decltype(*e.data())>;
  if constexpr (requires { std::tuple_size<std::remove_cvref_t<decltype(e.shape())>>::value; }) {
    static_assert(std::tuple_size<std::remove_cvref_t<decltype(e.shape())>>::value == 2,
                  "xtensor_adapt::view needs a 2-D container");
  }
  detail::require_dimension(e, 2, argument);
  const auto& sh = e.shape();
  const auto& st = e.strides();
  return matrix_view<value>(e.data() + e.data_offset(), static_cast<index_t>(sh[0]),
                            static_cast<index_t>(sh[1]), static_cast<index_t>(st[0]),
                            static_cast<index_t>(st[1]));
}

/// A 1-D container as a vector_view (labels, per-anchor losses, ...).
/// Throws unitsface::invalid_argument naming `argument` when `e` is not 1-D.
template <detail::strided_container E>
auto vector(E& e, std::string_view argument = "vector") {
  using value = std::remove_reference_t<decltype(*e.data())>;
  if constexpr (requires { std::tuple_size<std::remove_cvref_t<decltype(e.shape())>>::value; }) {
    static_assert(std::tuple_size<std::remove_cvref_t<decltype(e.shape())>>::value == 1,
                  "xtensor_adapt::vector needs a 1-D container");
  }
  detail::require_dimension(e, 1, argument);
  const index_t n = static_cast<index_t>(e.shape()[0]);
  // A single element may carry stride 0; 1 addresses it the same way.
  const index_t s = n > 1 ? static_cast<index_t>(e.strides()[0]) : 1;
  return vector_view<value>(e.data() + e.data_offset(), n, s);
}

}  // namespace xtensor_adapt
}  // namespace unitsface
