// The column-major product arguments that backends/cuda.hpp passes to cuBLAS
// (blas::column_major_call), executed on the CPU by cblas_sgemm / cblas_dgemm in
// CblasColMajor order, which takes the same arguments as cublasSgemm / cublasDgemm. C is
// compared against a long double loop over the views, within 1e-12 (double) / 1e-5 (float)
// relative to the largest element, over row- and column-major, padded and transposed views,
// extents of 1 (with the stride 0 xtensor stores there) and beta zero (C holding NaN) or not.
#include <cblas.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/backends/strided_layout.hpp"
#include "unitsface/core/view.hpp"

using namespace unitsface;
using backends::blas::column_major_call;

namespace {

/// How a test matrix is stored: row- or column-major, or the transpose of a view of the
/// transposed shape stored either way (backends::transpose, as the losses use it).
enum class storage { row_major, col_major, transposed_row_major, transposed_col_major };

const char* storage_name(storage s) {
  switch (s) {
    case storage::row_major:
      return "row-major";
    case storage::col_major:
      return "column-major";
    case storage::transposed_row_major:
      return "transpose of row-major";
    case storage::transposed_col_major:
      return "transpose of column-major";
  }
  return "?";
}

constexpr storage all_storages[] = {storage::row_major, storage::col_major,
                                    storage::transposed_row_major, storage::transposed_col_major};

/// A rows x cols matrix in its own buffer. The padding between rows (or columns) holds NaN,
/// so that an operand addressed with the wrong leading dimension shows up in C, and a write
/// into C's padding is seen. With `zero_unit_strides` the stride of an extent of 1 is 0, as
/// xtensor stores it.
template <class T>
struct stored_matrix {
  std::vector<T> buffer;
  matrix_view<T> view;

  stored_matrix(index_t rows, index_t cols, storage s, index_t pad, bool zero_unit_strides) {
    const bool transposed =
        s == storage::transposed_row_major || s == storage::transposed_col_major;
    const bool row_major = s == storage::row_major || s == storage::transposed_row_major;
    // The shape actually stored: the transposed one for a transposed view.
    const index_t r = transposed ? cols : rows, c = transposed ? rows : cols;
    const index_t ld = (row_major ? c : r) + pad;
    buffer.assign(static_cast<std::size_t>(ld * (row_major ? r : c)),
                  std::numeric_limits<T>::quiet_NaN());
    matrix_view<T> v = row_major ? matrix_view<T>(buffer.data(), r, c, ld, 1)
                                 : matrix_view<T>(buffer.data(), r, c, 1, ld);
    view = transposed ? backends::transpose(v) : v;
    if (zero_unit_strides) {
      if (view.rows == 1) view.row_stride = 0;
      if (view.cols == 1) view.col_stride = 0;
    }
  }
  stored_matrix(const stored_matrix&) = delete;
  stored_matrix& operator=(const stored_matrix&) = delete;

  template <class F>
  void fill(F&& value) {
    for (index_t i = 0; i < view.rows; ++i)
      for (index_t j = 0; j < view.cols; ++j) view(i, j) = value();
  }
  /// Whether each buffer element belongs to the matrix (rather than padding).
  std::vector<bool> element_mask() const {
    std::vector<bool> mask(buffer.size(), false);
    for (index_t i = 0; i < view.rows; ++i)
      for (index_t j = 0; j < view.cols; ++j)
        mask[static_cast<std::size_t>(&view(i, j) - buffer.data())] = true;
    return mask;
  }
};

template <class T>
void run_gemm(const backends::blas::column_major_gemm<T>& call, T alpha, T beta) {
  const auto ta = call.trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = call.trans_b ? CblasTrans : CblasNoTrans;
  const int m = static_cast<int>(call.m), n = static_cast<int>(call.n),
            k = static_cast<int>(call.k);
  const int lda = static_cast<int>(call.lda), ldb = static_cast<int>(call.ldb),
            ldc = static_cast<int>(call.ldc);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasColMajor, ta, tb, m, n, k, alpha, call.a, lda, call.b, ldb, beta, call.c, ldc);
  } else {
    cblas_dgemm(CblasColMajor, ta, tb, m, n, k, alpha, call.a, lda, call.b, ldb, beta, call.c, ldc);
  }
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

struct shape {
  index_t m, k, n;
};

}  // namespace

TEMPLATE_TEST_CASE("the column-major gemm arguments compute C = alpha A B + beta C",
                   "[backends][column_major_gemm]", float, double) {
  using T = TestType;
  const shape shapes[] = {{3, 4, 5}, {1, 4, 5}, {3, 1, 5}, {3, 4, 1}, {1, 1, 5},
                          {1, 4, 1}, {3, 1, 1}, {1, 1, 1}, {7, 6, 2}, {17, 13, 11}};
  std::mt19937 rng(20240611u);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  const auto random_value = [&] { return static_cast<T>(uniform(rng)); };
  int cases = 0;
  for (const shape& sh : shapes) {
    for (const bool zero_unit_strides : {false, true}) {
      for (const index_t pad : {index_t(0), index_t(3)}) {
        for (const storage sa : all_storages) {
          for (const storage sb : all_storages) {
            for (const storage sc : all_storages) {
              for (const T beta : {T(0), T(-0.625)}) {
                std::ostringstream what;
                what << "m " << sh.m << ", k " << sh.k << ", n " << sh.n << ", pad " << pad
                     << (zero_unit_strides ? ", stride 0 at extent 1" : "") << "; A "
                     << storage_name(sa) << ", B " << storage_name(sb) << ", C " << storage_name(sc)
                     << "; beta " << beta;
                INFO(what.str());
                stored_matrix<T> a(sh.m, sh.k, sa, pad, zero_unit_strides);
                stored_matrix<T> b(sh.k, sh.n, sb, pad, zero_unit_strides);
                stored_matrix<T> c(sh.m, sh.n, sc, pad, zero_unit_strides);
                a.fill(random_value);
                b.fill(random_value);
                // BLAS does not read C when beta == 0: NaN there must not reach the result.
                if (beta == T(0)) {
                  c.fill([] { return std::numeric_limits<T>::quiet_NaN(); });
                } else {
                  c.fill(random_value);
                }
                const T alpha = T(1.375);

                // The reference, from the views alone.
                std::vector<long double> want(static_cast<std::size_t>(sh.m * sh.n));
                long double scale = 0;
                for (index_t i = 0; i < sh.m; ++i) {
                  for (index_t j = 0; j < sh.n; ++j) {
                    long double sum = 0;
                    for (index_t p = 0; p < sh.k; ++p)
                      sum += static_cast<long double>(a.view(i, p)) * b.view(p, j);
                    long double w = static_cast<long double>(alpha) * sum;
                    if (beta != T(0)) w += static_cast<long double>(beta) * c.view(i, j);
                    want[static_cast<std::size_t>(i * sh.n + j)] = w;
                    scale = std::max(scale, std::fabs(w));
                  }
                }

                const auto call = column_major_call<T>(a.view, b.view, c.view);
                REQUIRE(call.ok);
                CHECK(call.k == sh.k);
                CHECK(call.c == c.view.data);
                run_gemm(call, alpha, beta);

                double max_error = 0;
                bool finite = true;
                for (index_t i = 0; i < sh.m; ++i) {
                  for (index_t j = 0; j < sh.n; ++j) {
                    const T got = c.view(i, j);
                    if (!std::isfinite(got)) finite = false;
                    const long double d = got - want[static_cast<std::size_t>(i * sh.n + j)];
                    max_error = std::max(max_error, static_cast<double>(std::fabs(d)));
                  }
                }
                CHECK(finite);
                CHECK(max_error <= tolerance<T>() * static_cast<double>(scale > 0 ? scale : 1));
                // Nothing outside C's elements was written: its padding still holds NaN.
                const std::vector<bool> is_element = c.element_mask();
                bool padding_kept = true;
                for (std::size_t o = 0; o < c.buffer.size(); ++o)
                  if (!is_element[o] && !std::isnan(c.buffer[o])) padding_kept = false;
                CHECK(padding_kept);
                ++cases;
              }
            }
          }
        }
      }
    }
  }
  CHECK(cases == 10 * 2 * 2 * 4 * 4 * 4 * 2);
}

TEMPLATE_TEST_CASE("no column-major gemm call where BLAS cannot address the views",
                   "[backends][column_major_gemm]", float, double) {
  using T = TestType;
  std::vector<T> buf(64, T(1));
  const matrix_view<const T> a(buf.data(), 3, 4), b(buf.data(), 4, 5);
  const matrix_view<T> c(buf.data(), 3, 5);
  REQUIRE(column_major_call<T>(a, b, c).ok);

  // Non-unit strides in both dimensions: neither row- nor column-major.
  const matrix_view<const T> a_strided(buf.data(), 3, 4, 10, 2);
  CHECK_FALSE(column_major_call<T>(a_strided, b, c).ok);
  const matrix_view<const T> b_strided(buf.data(), 4, 5, 2, 9);
  CHECK_FALSE(column_major_call<T>(a, b_strided, c).ok);
  const matrix_view<T> c_strided(buf.data(), 3, 5, 12, 2);
  CHECK_FALSE(column_major_call<T>(a, b, c_strided).ok);

  // An inner extent of 0: the caller applies beta itself.
  const matrix_view<const T> a0(buf.data(), 3, 0), b0(buf.data(), 0, 5);
  CHECK_FALSE(column_major_call<T>(a0, b0, c).ok);

  // Sizes beyond int (the views are not read).
  const index_t big = index_t(INT_MAX) + 1;
  const matrix_view<const T> a_wide(buf.data(), 3, big), b_tall(buf.data(), big, 5);
  CHECK_FALSE(column_major_call<T>(a_wide, b_tall, c).ok);
  const matrix_view<T> c_tall(buf.data(), big, 5, 5, 1);
  const matrix_view<const T> a_tall(buf.data(), big, 4);
  CHECK_FALSE(column_major_call<T>(a_tall, b, c_tall).ok);
}
