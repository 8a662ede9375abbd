// view.hpp: matrix_view and vector_view address the caller's memory through their strides.
// The expected addresses are written from the layout's definition (element (i, j) of a
// row-major r x c matrix is at i*c + j, of a column-major one at i + j*r, ...), and compared
// as pointers, so that a view that reads the right value from the wrong place fails too.
#include "unitsface/core/view.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

using namespace unitsface;

namespace {

/// Storage filled with distinct values 0, 1, 2, ... so that a wrong element is visible.
template <class T>
std::vector<T> iota_storage(std::size_t n) {
  std::vector<T> v(n);
  std::iota(v.begin(), v.end(), T(0));
  return v;
}

/// Every element of `v` is at p + offset(i, j), for the offset function of its layout.
template <class T, class Offset>
void check_addresses(const matrix_view<T>& v, T* p, Offset offset) {
  for (index_t i = 0; i < v.rows; ++i) {
    for (index_t j = 0; j < v.cols; ++j) {
      CAPTURE(i, j);
      CHECK(&v(i, j) == p + offset(i, j));
    }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("matrix_view of row-major storage", "[core][view]", float, double) {
  using T = TestType;
  auto s = iota_storage<T>(12);
  const matrix_view<T> v(s.data(), 3, 4);
  CHECK(v.data == s.data());
  CHECK(v.rows == 3);
  CHECK(v.cols == 4);
  CHECK(v.row_stride == 4);
  CHECK(v.col_stride == 1);
  CHECK(v.size() == 12);
  CHECK_FALSE(v.empty());
  CHECK(v.is_row_major_contiguous());
  check_addresses(v, s.data(), [](index_t i, index_t j) { return i * 4 + j; });
  CHECK(v(2, 1) == T(9));
  CHECK(v(1, 3) == T(7));

  const auto m = make_matrix_view(s.data(), 3, 4);
  STATIC_REQUIRE(std::is_same_v<std::remove_const_t<decltype(m)>, matrix_view<T>>);
  CHECK(m.data == v.data);
  CHECK(m.rows == v.rows);
  CHECK(m.cols == v.cols);
  CHECK(m.row_stride == v.row_stride);
  CHECK(m.col_stride == v.col_stride);
}

TEMPLATE_TEST_CASE("matrix_view of column-major storage", "[core][view]", float, double) {
  using T = TestType;
  auto s = iota_storage<T>(12);
  const matrix_view<T> v(s.data(), 3, 4, 1, 3);
  CHECK(v.size() == 12);
  CHECK_FALSE(v.is_row_major_contiguous());
  check_addresses(v, s.data(), [](index_t i, index_t j) { return i + j * 3; });
  CHECK(v(2, 1) == T(5));
  CHECK(v(0, 3) == T(9));

  // The same storage read as the row-major transpose: (j, i) of the 4 x 3 view is (i, j).
  const matrix_view<T> t(s.data(), 4, 3);
  for (index_t i = 0; i < 3; ++i) {
    for (index_t j = 0; j < 4; ++j) CHECK(&v(i, j) == &t(j, i));
  }
}

TEMPLATE_TEST_CASE("matrix_view of padded rows", "[core][view]", float, double) {
  using T = TestType;
  // 3 x 4 inside rows of 6 (two padding elements each, as a pitched allocation).
  auto s = iota_storage<T>(18);
  const matrix_view<T> v(s.data(), 3, 4, 6, 1);
  CHECK(v.size() == 12);
  CHECK_FALSE(v.is_row_major_contiguous());
  check_addresses(v, s.data(), [](index_t i, index_t j) { return i * 6 + j; });
  CHECK(v(2, 3) == T(15));
  // One row has no padding to skip, whatever its stride.
  CHECK(v.row_block(1, 1).is_row_major_contiguous());
  CHECK(matrix_view<T>(s.data(), 1, 4, 6, 1).is_row_major_contiguous());
  // Unit column stride is required even for one row: a row with gaps is not contiguous.
  CHECK_FALSE(matrix_view<T>(s.data(), 1, 4, 8, 2).is_row_major_contiguous());
}

TEMPLATE_TEST_CASE("matrix_view with zero and negative strides", "[core][view]", float, double) {
  using T = TestType;
  auto s = iota_storage<T>(12);
  // Row stride 0 broadcasts one row to every row.
  const matrix_view<T> b(s.data(), 5, 4, 0, 1);
  check_addresses(b, s.data(), [](index_t, index_t j) { return j; });
  // A negative row stride walks the rows of a row-major 3 x 4 matrix bottom-up.
  T* last = s.data() + 8;
  const matrix_view<T> r(last, 3, 4, -4, 1);
  check_addresses(r, last, [](index_t i, index_t j) { return -4 * i + j; });
  CHECK(r(0, 0) == T(8));
  CHECK(r(2, 3) == T(3));
  CHECK_FALSE(r.is_row_major_contiguous());
}

TEMPLATE_TEST_CASE("matrix_view writes reach the caller's memory", "[core][view]", float, double) {
  using T = TestType;
  std::vector<T> s(12, T(0));
  // A view is shallow: a const view object of mutable elements still writes.
  const matrix_view<T> v(s.data(), 3, 4, 1, 3);
  STATIC_REQUIRE(std::is_same_v<decltype(v(0, 0)), T&>);
  v(2, 1) = T(7);
  v(0, 3) = T(-1);
  for (std::size_t k = 0; k < s.size(); ++k) {
    CAPTURE(k);
    CHECK(s[k] == (k == 2 + 1 * 3 ? T(7) : k == 0 + 3 * 3 ? T(-1) : T(0)));
  }
}

TEMPLATE_TEST_CASE("matrix_view row_block addresses the parent's rows", "[core][view]", float,
                   double) {
  using T = TestType;
  auto s = iota_storage<T>(30);
  const matrix_view<T> layouts[] = {
      matrix_view<T>(s.data(), 5, 4),        // row-major
      matrix_view<T>(s.data(), 5, 4, 1, 5),  // column-major
      matrix_view<T>(s.data(), 5, 4, 6, 1),  // padded
  };
  for (const auto& v : layouts) {
    CAPTURE(v.row_stride, v.col_stride);
    for (index_t r0 = 0; r0 <= v.rows; ++r0) {
      for (index_t n = 0; r0 + n <= v.rows; ++n) {
        CAPTURE(r0, n);
        const matrix_view<T> blk = v.row_block(r0, n);
        REQUIRE(blk.rows == n);
        REQUIRE(blk.cols == v.cols);
        CHECK(blk.row_stride == v.row_stride);
        CHECK(blk.col_stride == v.col_stride);
        CHECK(blk.size() == n * v.cols);
        CHECK(blk.empty() == (n == 0));
        for (index_t i = 0; i < n; ++i) {
          for (index_t j = 0; j < v.cols; ++j) CHECK(&blk(i, j) == &v(r0 + i, j));
        }
      }
    }
  }
  // A block of a contiguous matrix is contiguous.
  CHECK(layouts[0].row_block(1, 3).is_row_major_contiguous());
  CHECK_FALSE(layouts[2].row_block(1, 3).is_row_major_contiguous());
}

TEMPLATE_TEST_CASE("empty and default matrix views", "[core][view]", float, double) {
  using T = TestType;
  const matrix_view<T> d;
  CHECK(d.data == nullptr);
  CHECK(d.rows == 0);
  CHECK(d.cols == 0);
  CHECK(d.size() == 0);
  CHECK(d.empty());
  T x[4] = {};
  CHECK(matrix_view<T>(x, 0, 4).empty());
  CHECK(matrix_view<T>(x, 4, 0).empty());
  CHECK(matrix_view<T>(x, 0, 4).size() == 0);
  CHECK(matrix_view<T>(x, 4, 0).size() == 0);
  CHECK_FALSE(matrix_view<T>(x, 1, 1).empty());
  CHECK(matrix_view<T>(x, 1, 1).size() == 1);
  CHECK_FALSE(matrix_view<T>(x, 2, 2).empty());
}

TEMPLATE_TEST_CASE("views convert from mutable to read-only only", "[core][view]", float, double) {
  using T = TestType;
  STATIC_REQUIRE(std::is_convertible_v<matrix_view<T>, matrix_view<const T>>);
  STATIC_REQUIRE(!std::is_constructible_v<matrix_view<T>, matrix_view<const T>>);
  STATIC_REQUIRE(std::is_convertible_v<vector_view<T>, vector_view<const T>>);
  STATIC_REQUIRE(!std::is_constructible_v<vector_view<T>, vector_view<const T>>);
  // No conversion between element types: a float view never reads double memory.
  using other = std::conditional_t<std::is_same_v<T, float>, double, float>;
  STATIC_REQUIRE(!std::is_constructible_v<matrix_view<const T>, matrix_view<other>>);
  STATIC_REQUIRE(!std::is_constructible_v<vector_view<const T>, vector_view<other>>);
  STATIC_REQUIRE(
      std::is_same_v<decltype(std::declval<const matrix_view<const T>&>()(0, 0)), const T&>);
  STATIC_REQUIRE(
      std::is_same_v<decltype(std::declval<const vector_view<const T>&>()[0]), const T&>);

  auto s = iota_storage<T>(20);
  const matrix_view<T> v(s.data() + 1, 3, 4, 5, 1);
  const matrix_view<const T> c = v;  // implicit
  CHECK(c.data == v.data);
  CHECK(c.rows == 3);
  CHECK(c.cols == 4);
  CHECK(c.row_stride == 5);
  CHECK(c.col_stride == 1);
  CHECK(&c(2, 3) == &v(2, 3));

  const vector_view<T> w(s.data() + 2, 6, 3);
  const vector_view<const T> cw = w;
  CHECK(cw.data == w.data);
  CHECK(cw.size() == 6);
  CHECK(cw.stride == 3);
  CHECK(&cw[5] == &w[5]);

  // A function taking a read-only view accepts a mutable one.
  auto sum = [](matrix_view<const T> m) {
    T acc = 0;
    for (index_t i = 0; i < m.rows; ++i) {
      for (index_t j = 0; j < m.cols; ++j) acc += m(i, j);
    }
    return acc;
  };
  // Rows start at 1, 6, 11 and hold 4 consecutive values: (4*1+6) + (4*6+6) + (4*11+6).
  CHECK(sum(v) == T(90));
}

TEMPLATE_TEST_CASE("vector_view addresses elements through its stride", "[core][view]", float,
                   double) {
  using T = TestType;
  auto s = iota_storage<T>(12);
  const auto u = make_vector_view(s.data(), 12);
  STATIC_REQUIRE(std::is_same_v<std::remove_const_t<decltype(u)>, vector_view<T>>);
  CHECK(u.data == s.data());
  CHECK(u.size() == 12);
  CHECK(u.stride == 1);
  CHECK_FALSE(u.empty());
  for (index_t k = 0; k < 12; ++k) CHECK(&u[k] == s.data() + k);

  // Column 2 of the row-major 3 x 4 matrix in s.
  const vector_view<T> col(s.data() + 2, 3, 4);
  for (index_t k = 0; k < 3; ++k) CHECK(&col[k] == s.data() + 2 + 4 * k);
  CHECK(col[2] == T(10));
  col[1] = T(-3);
  CHECK(s[6] == T(-3));

  const vector_view<T> d;
  CHECK(d.data == nullptr);
  CHECK(d.size() == 0);
  CHECK(d.empty());
  CHECK(vector_view<T>(s.data(), 0).empty());

  // make_*_view on a pointer to const gives a read-only view.
  const T* cp = s.data();
  STATIC_REQUIRE(std::is_same_v<decltype(make_vector_view(cp, 3)), vector_view<const T>>);
  STATIC_REQUIRE(std::is_same_v<decltype(make_matrix_view(cp, 1, 3)), matrix_view<const T>>);
}

TEMPLATE_TEST_CASE("views address randomly shaped and strided matrices", "[core][view]", float,
                   double) {
  using T = TestType;
  std::mt19937_64 rng(20240611);
  std::uniform_int_distribution<int> dim(1, 9), pad(0, 3);
  for (int trial = 0; trial < 50; ++trial) {
    const index_t r = dim(rng), c = dim(rng), p = pad(rng);
    const bool col_major = (trial % 2) == 1;
    // Leading dimension with padding, in either order.
    const index_t ld = (col_major ? r : c) + p;
    std::vector<T> s(static_cast<std::size_t>(ld * (col_major ? c : r)));
    const matrix_view<T> v =
        col_major ? matrix_view<T>(s.data(), r, c, 1, ld) : matrix_view<T>(s.data(), r, c, ld, 1);
    CAPTURE(trial, r, c, p, col_major);
    CHECK(v.size() == r * c);
    // Row-major storage is contiguous exactly when it has no padding to skip; a true answer
    // for any layout must mean element (i, j) is at i*c + j (the fast paths rely on it).
    if (!col_major) CHECK(v.is_row_major_contiguous() == (p == 0 || r == 1));
    const bool contiguous = v.is_row_major_contiguous();
    std::vector<int> hits(s.size(), 0);
    for (index_t i = 0; i < r; ++i) {
      for (index_t j = 0; j < c; ++j) {
        const std::ptrdiff_t off = &v(i, j) - s.data();
        REQUIRE(off >= 0);
        REQUIRE(off < static_cast<std::ptrdiff_t>(s.size()));
        CHECK(off == (col_major ? i + j * ld : i * ld + j));
        if (contiguous) CHECK(off == i * c + j);
        ++hits[static_cast<std::size_t>(off)];
      }
    }
    // Each element of the matrix has its own location: none is aliased.
    for (int h : hits) CHECK(h <= 1);
  }
}

TEST_CASE("views are usable in constant expressions", "[core][view]") {
  // The views are UNITSFACE_HD constexpr, so that kernels can build them at compile time.
  static constexpr int a[6] = {1, 2, 3, 4, 5, 6};
  constexpr matrix_view<const int> m(a, 2, 3);
  STATIC_REQUIRE(m(1, 2) == 6);
  STATIC_REQUIRE(m.size() == 6);
  STATIC_REQUIRE(m.row_block(1, 1)(0, 0) == 4);
  constexpr matrix_view<const int> t(a, 3, 2, 1, 3);
  STATIC_REQUIRE(t(2, 1) == 6);
  STATIC_REQUIRE(t(1, 0) == 2);
  constexpr vector_view<const int> v(a + 1, 3, 2);
  STATIC_REQUIRE(v[2] == 6);
  CHECK(m(0, 1) == 2);
  CHECK(v[1] == 4);
}
