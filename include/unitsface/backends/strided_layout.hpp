// unitsface: how a strided view maps onto the storage a BLAS library addresses (row- or
// column-major with a leading dimension). Shared by the CPU BLAS path and cuBLAS.
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

}  // namespace unitsface::backends::blas
