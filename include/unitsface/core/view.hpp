// unitsface: non-owning views of the caller's memory (pointer + shape + strides).
//
// Every loss and metric takes its inputs as views, so that unitsface never copies a
// caller's container to read it. Adapters (backends/eigen.hpp, backends/xtensor.hpp, ...)
// build views from the containers people already use; a plain pointer works as well.
// A view does not know where its memory lives: the execution policy says that (host memory
// for the CPU policies, device memory for the CUDA policy).
#pragma once

#include <cstddef>
#include <type_traits>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"

namespace unitsface {

/// A rows x cols matrix with arbitrary element strides (in elements, not bytes). Row-major
/// contiguous storage has row_stride = cols and col_stride = 1; column-major has
/// row_stride = 1 and col_stride = rows. `T` may be const-qualified for read-only views.
template <class T>
struct matrix_view {
  T* data = nullptr;
  index_t rows = 0;
  index_t cols = 0;
  index_t row_stride = 0;
  index_t col_stride = 1;

  constexpr matrix_view() = default;
  UNITSFACE_HD constexpr matrix_view(T* p, index_t r, index_t c)
      : data(p), rows(r), cols(c), row_stride(c), col_stride(1) {}
  UNITSFACE_HD constexpr matrix_view(T* p, index_t r, index_t c, index_t rs, index_t cs)
      : data(p), rows(r), cols(c), row_stride(rs), col_stride(cs) {}
  // A mutable view converts to a read-only one.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  UNITSFACE_HD constexpr matrix_view(const matrix_view<U>& o)
      : data(o.data),
        rows(o.rows),
        cols(o.cols),
        row_stride(o.row_stride),
        col_stride(o.col_stride) {}

  UNITSFACE_HD constexpr T& operator()(index_t i, index_t j) const {
    return data[i * row_stride + j * col_stride];
  }
  UNITSFACE_HD constexpr index_t size() const { return rows * cols; }
  UNITSFACE_HD constexpr bool empty() const { return rows == 0 || cols == 0; }
  /// Rows [r0, r0 + n) as a view of the same memory.
  UNITSFACE_HD constexpr matrix_view row_block(index_t r0, index_t n) const {
    return matrix_view(data + r0 * row_stride, n, cols, row_stride, col_stride);
  }
  UNITSFACE_HD constexpr bool is_row_major_contiguous() const {
    return col_stride == 1 && (row_stride == cols || rows <= 1);
  }
};

/// A vector of n elements with a stride.
template <class T>
struct vector_view {
  T* data = nullptr;
  index_t size_ = 0;
  index_t stride = 1;

  constexpr vector_view() = default;
  UNITSFACE_HD constexpr vector_view(T* p, index_t n, index_t s = 1)
      : data(p), size_(n), stride(s) {}
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  UNITSFACE_HD constexpr vector_view(const vector_view<U>& o)
      : data(o.data), size_(o.size_), stride(o.stride) {}

  UNITSFACE_HD constexpr T& operator[](index_t i) const { return data[i * stride]; }
  UNITSFACE_HD constexpr index_t size() const { return size_; }
  UNITSFACE_HD constexpr bool empty() const { return size_ == 0; }
};

template <class T>
matrix_view<T> make_matrix_view(T* p, index_t rows, index_t cols) {
  return matrix_view<T>(p, rows, cols);
}
template <class T>
vector_view<T> make_vector_view(T* p, index_t n) {
  return vector_view<T>(p, n);
}

}  // namespace unitsface
