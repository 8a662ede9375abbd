// unitsface: the Eigen backend (matrix products by Eigen) and views of Eigen objects.
//
// Requires Eigen 3.4. The policy overrides only gemm; everything else (normalisation, the
// loss kernels, reductions) is the generic host code.
#pragma once

#include <Eigen/Core>
#include <string>
#include <type_traits>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface {

namespace backends::eigen_detail {

template <class T>
using row_major = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using col_major = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
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

/// Host execution with Eigen's matrix products (single-threaded unless Eigen is built with
/// OpenMP), the generic code for the rest.
struct eigen_policy : host_policy {
  static constexpr const char* name = "eigen";

  template <class T>
  void gemm(T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
            matrix_view<T> c) const {
    using namespace backends::eigen_detail;
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
