// unitsface: the Eigen backend (matrix products by Eigen) and views of Eigen objects.
//
// Requires Eigen 3.4. The policy overrides gemm (a C BLAS when the program links one and
// defines UNITSFACE_USE_CBLAS, as the unitsface::eigen CMake target does where OpenBLAS is
// found; Eigen's own product otherwise) and for_each_index (OpenMP threads when compiled with
// OpenMP, as that target is where OpenMP is found); everything else (normalisation, the loss
// kernels, reductions) is the generic host code on top of them.
#pragma once

#include <Eigen/Core>
#include <string>
#include <type_traits>

#include "unitsface/backends/openmp_loop.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/view.hpp"

#if defined(UNITSFACE_USE_CBLAS)
#include "unitsface/backends/cblas.hpp"
#endif

namespace unitsface {

namespace backends::eigen_detail {

template <class T>
using row_major =
    Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using col_major =
    Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <class T, class M>
using maybe_const = std::conditional_t<std::is_const_v<T>, const M, M>;

inline bool unit_inner(index_t row_stride, index_t col_stride) {
  return col_stride == 1 || row_stride == 1;
}

/// Calls f with an Eigen::Map of v: row-major when its columns are contiguous, column-major
/// when its rows are. (Views with no unit stride are not mapped; see eigen_policy::gemm.)
template <class T, class F>
void with_map(matrix_view<T> v, F&& f) {
  using Outer = Eigen::OuterStride<>;
  if (v.col_stride == 1) {
    const index_t ld = v.rows > 1 ? v.row_stride : v.cols;
    f(Eigen::Map<maybe_const<T, row_major<T>>, Eigen::Unaligned, Outer>(v.data, v.rows, v.cols,
                                                                        Outer(ld)));
  } else {
    const index_t ld = v.cols > 1 ? v.col_stride : v.rows;
    f(Eigen::Map<maybe_const<T, col_major<T>>, Eigen::Unaligned, Outer>(v.data, v.rows, v.cols,
                                                                        Outer(ld)));
  }
}

}  // namespace backends::eigen_detail

/// Host execution on all cores: matrix products by a C BLAS (UNITSFACE_USE_CBLAS) or by Eigen
/// (multi-threaded when compiled with OpenMP), element-wise passes and sums over OpenMP threads
/// (when compiled with OpenMP; each index writes its own outputs, so these passes do not depend on
/// the number of threads; a BLAS's products may, in their last bits), the generic code for
/// the rest.
struct eigen_policy : host_policy {
  static constexpr const char* name = "eigen";
  /// Whether gemm goes to BLAS (views without a unit stride use Eigen or the generic loops).
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
    using namespace backends::eigen_detail;
#if defined(UNITSFACE_USE_CBLAS)
    if (backends::blas::gemm(alpha, a, b, beta, c)) return;
#endif
    if (!unit_inner(a.row_stride, a.col_stride) || !unit_inner(b.row_stride, b.col_stride) ||
        !unit_inner(c.row_stride, c.col_stride)) {
      backends::generic::gemm(*this, alpha, a, b, beta, c);
      return;
    }
    with_map(a, [&](const auto& ma) {
      with_map(b, [&](const auto& mb) {
        with_map(c, [&](auto mc) {
          if (beta == T(0)) {
            mc.noalias() = alpha * (ma * mb);
          } else {
            mc *= beta;
            mc.noalias() += alpha * (ma * mb);
          }
        });
      });
    });
  }
};

inline constexpr eigen_policy eigen_par{};

/// Views of Eigen objects, without copies: any dense expression with direct access
/// (Matrix, Map, Ref, blocks), row- or column-major.
namespace eigen {

template <class Derived>
auto view(Eigen::DenseBase<Derived>& m) {
  using Scalar = typename Derived::Scalar;
  auto& d = m.derived();
  return matrix_view<Scalar>(d.data(), d.rows(), d.cols(), d.rowStride(), d.colStride());
}
template <class Derived>
auto view(const Eigen::DenseBase<Derived>& m) {
  using Scalar = typename Derived::Scalar;
  const auto& d = m.derived();
  return matrix_view<const Scalar>(d.data(), d.rows(), d.cols(), d.rowStride(), d.colStride());
}
namespace detail {
// A block with several rows and columns has no single element stride: reading it as a
// vector would walk its first column (or row) and past it.
inline void require_vector_shape(Eigen::Index rows, Eigen::Index cols) {
  unitsface::detail::require(rows == 1 || cols == 1, "vector",
                             "is " + std::to_string(rows) + " x " + std::to_string(cols) +
                                 ": one row or one column expected");
}
}  // namespace detail

/// A vector (one row or column) as a vector_view; a block of several rows and columns is
/// refused (unitsface::invalid_argument).
template <class Derived>
auto vector(Eigen::DenseBase<Derived>& v) {
  using Scalar = typename Derived::Scalar;
  auto& d = v.derived();
  detail::require_vector_shape(d.rows(), d.cols());
  return vector_view<Scalar>(d.data(), d.size(), d.innerStride());
}
template <class Derived>
auto vector(const Eigen::DenseBase<Derived>& v) {
  using Scalar = typename Derived::Scalar;
  const auto& d = v.derived();
  detail::require_vector_shape(d.rows(), d.cols());
  return vector_view<const Scalar>(d.data(), d.size(), d.innerStride());
}

}  // namespace eigen
}  // namespace unitsface
