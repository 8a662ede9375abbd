// unitsface: matrix products of strided views through the C BLAS interface (cblas_sgemm /
// cblas_dgemm, e.g. from OpenBLAS). Used by CPU backends that link a BLAS; include it only
// where <cblas.h> is available and the program links a BLAS library.
#pragma once

#include <cblas.h>

#include <climits>
#include <type_traits>
#include <utility>

#include "unitsface/backends/strided_layout.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::backends::blas {

/// C = alpha A B + beta C with BLAS when T is float or double and every view has a unit
/// stride; returns false (and does nothing) otherwise, so that the caller falls back.
template <class T>
bool gemm(T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta, matrix_view<T> c) {
  if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) {
    return false;
  } else {
    if (a.rows > INT_MAX || a.cols > INT_MAX || b.cols > INT_MAX) return false;
    layout la = layout_of(a), lb = layout_of(b), lc = layout_of(c);
    if (!la.ok || !lb.ok || !lc.ok) return false;
    // A column-major C is the row-major C^T = B^T A^T: swap the operands, transpose both.
    const T* pa = a.data;
    const T* pb = b.data;
    index_t m = c.rows, n = c.cols;
    if (!lc.row_major) {
      std::swap(pa, pb);
      std::swap(la, lb);
      la.row_major = !la.row_major;
      lb.row_major = !lb.row_major;
      std::swap(m, n);
    }
    const index_t k = a.cols;
    // In a row-major call an operand stored column-major is its transpose stored row-major.
    const auto ta = la.row_major ? CblasNoTrans : CblasTrans;
    const auto tb = lb.row_major ? CblasNoTrans : CblasTrans;
    const int M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
    const int lda = static_cast<int>(la.ld), ldb = static_cast<int>(lb.ld),
              ldc = static_cast<int>(lc.ld);
    if (k == 0) {
      // BLAS would scale C by beta; keep the beta == 0 rule (C is not read) explicit.
      for (index_t i = 0; i < c.rows; ++i)
        for (index_t j = 0; j < c.cols; ++j) c(i, j) = beta == T(0) ? T(0) : beta * c(i, j);
      return true;
    }
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, c.data, ldc);
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, c.data, ldc);
    }
    return true;
  }
}

}  // namespace unitsface::backends::blas
