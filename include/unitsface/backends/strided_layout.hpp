// unitsface: how a strided view maps onto the storage a BLAS library addresses (row- or
// column-major with a leading dimension). Shared by the CPU BLAS path and cuBLAS; the
// column-major product arguments (column_major_call) compile without CUDA, so that the
// mapping cuBLAS receives is tested on the CPU through the column-major C BLAS call.
#pragma once

#include <climits>

#include "unitsface/core/config.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::backends::blas {

/// How a view maps onto BLAS storage: `row_major` (unit column stride) or column-major
/// (unit row stride), with its leading dimension; `ok` is false for views without a unit
/// stride, which BLAS cannot address.
struct layout {
  bool ok = false;
  bool row_major = true;
  index_t ld = 1;
};

/// Strides of a dimension of extent 1 are never used to address an element, and some
/// libraries store 0 there (xtensor does); give them values BLAS accepts first.
template <class T>
layout layout_of(const matrix_view<T>& v) {
  index_t rs = v.row_stride, cs = v.col_stride;
  if (v.cols <= 1) cs = 1;
  if (v.rows <= 1) rs = cs == 1 ? (v.cols > 1 ? v.cols : 1) : 1;
  layout l;
  if (cs == 1 && rs >= (v.cols > 1 ? v.cols : 1)) {
    l = {true, true, rs};
  } else if (rs == 1 && cs >= (v.rows > 1 ? v.rows : 1)) {
    l = {true, false, cs};
  }
  if (l.ld > INT_MAX) l.ok = false;  // the usual (LP64) BLAS takes int sizes
  return l;
}

/// The arguments of a column-major gemm (cuBLAS, or C BLAS with CblasColMajor) that computes
/// C = alpha A B + beta C for three views: C' = op(A') op(B') with C' m x n and k the inner
/// extent, each operand given by a pointer and a leading dimension, transposed where
/// `trans_a` / `trans_b` is set. `ok` is false where no such call exists (the caller then
/// uses its generic loops).
template <class T>
struct column_major_gemm {
  bool ok = false;
  bool trans_a = false;
  bool trans_b = false;
  index_t m = 0;
  index_t n = 0;
  index_t k = 0;
  const T* a = nullptr;
  index_t lda = 1;
  const T* b = nullptr;
  index_t ldb = 1;
  T* c = nullptr;
  index_t ldc = 1;
};

/// The column-major call for C = alpha A B + beta C. Not ok for views without a unit stride,
/// sizes beyond int (the usual LP64 BLAS and cuBLAS take int) and an inner extent of 0 (the
/// generic loops then apply the beta == 0 rule without calling BLAS).
template <class T>
column_major_gemm<T> column_major_call(matrix_view<const T> a, matrix_view<const T> b,
                                       matrix_view<T> c) {
  column_major_gemm<T> call;
  const layout la = layout_of(a), lb = layout_of(b), lc = layout_of(c);
  if (!la.ok || !lb.ok || !lc.ok || a.cols == 0) return call;
  if (c.rows > INT_MAX || c.cols > INT_MAX || a.cols > INT_MAX) return call;
  call.ok = true;
  call.k = a.cols;
  call.c = c.data;
  call.ldc = lc.ld;
  if (!lc.row_major) {
    // A column-major C is computed as it is. An operand stored row-major with leading
    // dimension ld is, read column-major, its transpose: it goes in transposed.
    call.m = c.rows;
    call.n = c.cols;
    call.a = a.data;
    call.lda = la.ld;
    call.trans_a = la.row_major;
    call.b = b.data;
    call.ldb = lb.ld;
    call.trans_b = lb.row_major;
  } else {
    // A row-major C read column-major is C^T (c.cols x c.rows), computed as C^T = B^T A^T:
    // the operands swap, and an operand stored row-major is already its transpose
    // column-major (not transposed), one stored column-major goes in transposed.
    call.m = c.cols;
    call.n = c.rows;
    call.a = b.data;
    call.lda = lb.ld;
    call.trans_a = !lb.row_major;
    call.b = a.data;
    call.ldb = la.ld;
    call.trans_b = !la.row_major;
  }
  return call;
}

}  // namespace unitsface::backends::blas
