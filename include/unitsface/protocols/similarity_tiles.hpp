// unitsface protocols: cosine similarities of two sets of embeddings, one tile at a time, by the
// backend's matrix product.
//
// Each row's norm is computed once on the host (in double; NaN/Inf and zero-norm rows refused,
// naming the argument and the row). Where the policy's memory is the host's and the rows are
// already T, the product reads the caller's rows in place and each tile's entries are scaled by
// the two rows' inverse norms; otherwise the rows are normalised into a copy in T in the
// policy's memory (see unit_rows). Every tile of rows [i0, i0 + tile_rows) x [j0, j0 +
// tile_cols) is one backends::gemm into a buffer of the policy's memory, handed to the caller's
// visitor (copied to the host first when the policy's memory is not the host's) before the next
// tile is computed. Memory: one tile (tile_rows x tile_cols) and one inverse norm per row, or
// the normalised copies; never the whole similarity matrix; a protocol reduces each tile as it
// arrives (best scores per identity, rank counts, bucket counts).
// for_each_similarity_row shares each tile's rows out among the host's threads (core/shares.hpp),
// each share with its own state, so that the reductions run on every core between the products
// (which the backend runs on every core too) instead of on one.
//
// Scores that are equal by construction (a row and its copy against a third row) must stay
// equal for a protocol's ties to be counted as ties: that holds when the backend's product
// computes an entry the same way wherever it sits in a tile, as the protocol conformance cases
// (which hold such copies) check on every backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/shares.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::protocols {

struct tile_options {
  index_t tile_rows = 512;  ///< rows of the first set per tile
  index_t tile_cols =
      8192;  ///< rows of the second set per tile (a 512 x 8192 tile: 32 MiB in double)
  /// A share of the work (one of `parts` processes): only the bands of tile_rows rows whose
  /// index k has k % parts == part are computed. Round robin: with `upper`, band k holds
  /// fewer tiles as k grows, and every part gets early and late bands alike.
  index_t part = 0;
  index_t parts = 1;
  /// Host threads that reduce each tile, its rows shared out among them (core/shares.hpp): 0 =
  /// OpenMP's default team size (1 without OpenMP). Results depend on this number only where a
  /// protocol says so; the protocols here give the same results for every value.
  index_t threads = 0;
};

namespace detail {

using unitsface::detail::require;

inline void require_tiles(const tile_options& o) {
  require(o.tile_rows > 0, "tile_rows", "must be > 0");
  require(o.tile_cols > 0, "tile_cols", "must be > 0");
  require(o.parts > 0, "parts", "must be > 0");
  require(o.part >= 0 && o.part < o.parts, "part",
          std::to_string(o.part) + " is not in [0, " + std::to_string(o.parts) + ")");
  require(o.threads >= 0, "threads", "must be >= 0 (0: OpenMP's default)");
}

/// The shares a tile's rows are cut into (one state each).
inline index_t row_shares(const tile_options& o) {
  require_tiles(o);
  return unitsface::detail::host_shares(o.threads);
}

/// The largest of x[0..n), n > 0, in 16 lanes (a reduction the compiler vectorises without
/// -ffast-math: each lane is an element-wise select) then across them.
template <class T>
T max_of(const T* x, index_t n) {
  constexpr index_t lanes = 16;
  T m = x[0];
  index_t j = 0;
  if (n >= lanes) {
    T lane[lanes];
    for (index_t l = 0; l < lanes; ++l) lane[l] = x[l];
    for (j = lanes; j + lanes <= n; j += lanes)
      for (index_t l = 0; l < lanes; ++l) lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
    for (index_t l = 0; l < lanes; ++l) m = lane[l] > m ? lane[l] : m;
  }
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

/// The columns of a row worth a closer look, in chunks of 256: each chunk's maximum (one
/// vectorised pass) is compared with floor(), read before each chunk as f may raise it, and
/// f(c) is called for every column of the chunks whose maximum exceeds it. Returns the row's
/// maximum. (A list of the best scores, once full, lets almost every chunk pass.)
template <class T, class Floor, class F>
double for_each_chunk_above(const T* row, index_t cols, Floor&& floor, F&& f) {
  constexpr index_t chunk = 256;
  double top = -std::numeric_limits<double>::infinity();
  for (index_t c0 = 0; c0 < cols; c0 += chunk) {
    const index_t m = std::min(chunk, cols - c0);
    const double high = static_cast<double>(max_of(row + c0, m));
    top = std::max(top, high);
    if (!(high > floor())) continue;
    for (index_t c = c0; c < c0 + m; ++c) f(c);
  }
  return top;
}

/// The rows of a labelled set grouped by label: rows(l) are the rows labelled l, ascending.
class label_groups {
 public:
  explicit label_groups(const std::vector<long long>& labels) : rows_(labels.size()) {
    for (std::size_t i = 0; i < rows_.size(); ++i) rows_[i] = index_t(i);
    std::stable_sort(rows_.begin(), rows_.end(), [&](index_t a, index_t b) {
      return labels[std::size_t(a)] < labels[std::size_t(b)];
    });
    sorted_.resize(rows_.size());
    for (std::size_t k = 0; k < rows_.size(); ++k) sorted_[k] = labels[std::size_t(rows_[k])];
  }
  /// [first, last) of the rows labelled l (empty when none is).
  std::pair<const index_t*, const index_t*> rows(long long l) const {
    const auto [a, b] = std::equal_range(sorted_.begin(), sorted_.end(), l);
    return {rows_.data() + (a - sorted_.begin()), rows_.data() + (b - sorted_.begin())};
  }
  bool has(long long l) const { return std::binary_search(sorted_.begin(), sorted_.end(), l); }
  /// Every row index, by (label, row); their labels (the same order).
  const std::vector<index_t>& order() const { return rows_; }
  const std::vector<long long>& sorted_labels() const { return sorted_; }

 private:
  std::vector<index_t> rows_;      // row indices by (label, row)
  std::vector<long long> sorted_;  // their labels
};

}  // namespace detail

/// The L2-normalised rows of a host matrix as the policy's product reads them: a normalised
/// copy in the policy's memory as T, or, where the policy's memory is the host's and the rows
/// are already T with contiguous columns, the caller's rows themselves with their inverse
/// norms (no copy: a 1,000,000 x 512 float gallery is 2 GiB that need not be written again,
/// and the tiles are scaled after each product instead, see for_each_similarity_tile). The
/// caller's rows must then outlive this object, unchanged.
template <class T, class Policy>
class unit_rows {
 public:
  /// Checks `features` (host memory, any element type convertible to double; NaN/Inf and
  /// zero-norm rows refused, naming `name` and the row) and computes each row's norm in
  /// double.
  template <class E>
  unit_rows(const Policy& pol, matrix_view<E> features, const char* name)
      : rows_(features.rows), cols_(features.cols) {
    detail::require(features.rows > 0, name, "has no row");
    detail::require(features.cols > 0, name, "has no column");
    std::vector<double> norm(static_cast<std::size_t>(rows_));
    // Rows shared out among the host's threads; a share stops at its first bad row, and the
    // lowest share's error is the one thrown: the first bad row of all.
    unitsface::detail::for_each_share(rows_, unitsface::detail::host_shares(0),
                                      [&](index_t, index_t r0, index_t r1) {
                                        for (index_t i = r0; i < r1; ++i)
                                          norm[std::size_t(i)] = row_norm(features, i, name);
                                      });
    bool in_range = true;  // every norm where the product of raw rows cannot over- or underflow
    for (double n : norm) in_range = in_range && n >= 1e-8 && n <= 1e8;
    if constexpr (Policy::host_memory && std::is_same_v<std::remove_const_t<E>, T>) {
      if (features.col_stride == 1 && in_range) {
        raw_ = matrix_view<const T>(features.data, rows_, cols_, features.row_stride, 1);
        inverse_.resize(norm.size());
        for (std::size_t i = 0; i < norm.size(); ++i) inverse_[i] = static_cast<T>(1.0 / norm[i]);
        return;
      }
    }
    buf_ = backends::make_buffer<T>(pol, rows_ * cols_);
    std::vector<T> staged(Policy::host_memory ? 0 : std::size_t(rows_ * cols_));
    T* out = Policy::host_memory ? backends::data_ptr(buf_) : staged.data();
    // Rows shared out among the host's threads: 1,000,000 x 512 rows are 5 * 10^8 divisions
    // and conversions, of the order of a second on one core (an estimate), a tenth of the
    // device's products of all their pairs.
    unitsface::detail::for_each_share(
        rows_, unitsface::detail::host_shares(0), [&](index_t, index_t r0, index_t r1) {
          for (index_t i = r0; i < r1; ++i) {
            const double n = norm[std::size_t(i)];
            for (index_t c = 0; c < cols_; ++c)
              out[i * cols_ + c] = static_cast<T>(static_cast<double>(features(i, c)) / n);
          }
        });
    if (!staged.empty())
      backends::copy_from_host(pol, staged.data(), rows_ * cols_, backends::data_ptr(buf_));
  }

  index_t rows() const { return rows_; }
  index_t cols() const { return cols_; }

  /// The norm of row i in double: the sum of squares in 8 lanes (a loop the compiler
  /// vectorises), the values checked only when that sum is not finite (a NaN or Inf makes it
  /// so, as does a norm beyond the range of double): then the culprit is named.
  template <class E>
  static double row_norm(matrix_view<E> f, index_t i, const char* name) {
    constexpr index_t lanes = 8;
    double lane[lanes] = {};
    const index_t n = f.cols;
    index_t c = 0;
    if (f.col_stride == 1) {
      const E* x = f.data + i * f.row_stride;
      for (; c + lanes <= n; c += lanes)
        for (index_t l = 0; l < lanes; ++l) {
          const double v = static_cast<double>(x[c + l]);
          lane[l] += v * v;
        }
    }
    for (; c < n; ++c) {
      const double v = static_cast<double>(f(i, c));
      lane[0] += v * v;
    }
    double ss = 0;
    for (index_t l = 0; l < lanes; ++l) ss += lane[l];
    if (!std::isfinite(ss)) {
      for (index_t k = 0; k < n; ++k) {
        if (!std::isfinite(static_cast<double>(f(i, k)))) {
          throw invalid_argument(
              name, "row " + std::to_string(i) + " column " + std::to_string(k) + " is not finite");
        }
      }
      throw invalid_argument(name,
                             "row " + std::to_string(i) + " has a norm beyond the range of double");
    }
    detail::require(ss > 0, name, "row " + std::to_string(i) + " has zero norm");
    return std::sqrt(ss);
  }

  /// The rows as the product reads them (policy memory): normalised, or the caller's rows
  /// when inverse_norms() is not null.
  matrix_view<const T> view() const {
    if (raw_.data != nullptr) return raw_;
    return matrix_view<const T>(backends::data_ptr(buf_), rows_, cols_);
  }
  /// 1 / norm of each row (host memory) when view() holds the caller's rows, else null.
  const T* inverse_norms() const { return inverse_.empty() ? nullptr : inverse_.data(); }

 private:
  index_t rows_, cols_;
  matrix_view<const T> raw_{};
  std::vector<T> inverse_;
  decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0)) buf_{};
};

namespace detail {

/// Row r of a tile of raw rows' products into cosines: times the product of the two rows'
/// inverse norms (ra: 1 where a's rows are normalised; ib: null where b's are), the same
/// arithmetic for an entry wherever it sits in a tile, and symmetric: the pair (i, j) of one
/// set scores the same as (j, i), so ties stay ties.
template <class T>
void scale_row(T* row, index_t n, T ra, const T* ib) {
  if (ib != nullptr) {
    for (index_t k = 0; k < n; ++k) row[k] = row[k] * (ra * ib[k]);
  } else {
    for (index_t k = 0; k < n; ++k) row[k] = row[k] * ra;
  }
}

/// The tiles of for_each_similarity_tile: visit(i0, j0, tile) with the tile in host memory,
/// writable; with `scale` false the products of raw rows are left to the visitor to scale
/// (for_each_similarity_row does it row by row, while a row is in cache).
template <class T, class Policy, class Visit>
void similarity_tiles(const Policy& pol, const unit_rows<T, Policy>& a,
                      const unit_rows<T, Policy>& b, Visit&& visit, const tile_options& o,
                      bool upper, bool scale) {
  const index_t shares = row_shares(o);  // checks o
  require(a.cols() == b.cols(), "features",
          "the two sets have different dimensions (" + std::to_string(a.cols()) + " and " +
              std::to_string(b.cols()) + ")");
  const index_t tr = std::min(o.tile_rows, a.rows()), tc = std::min(o.tile_cols, b.rows());
  // A policy whose memory is the host's hands its own buffer to the visitor (no copy).
  constexpr bool host = Policy::host_memory;
  const T* const a_inverse = a.inverse_norms();
  const T* const b_inverse = b.inverse_norms();
  auto dev = backends::make_buffer<T>(pol, tr * tc);
  std::vector<T> staged(host ? 0 : static_cast<std::size_t>(tr * tc));
  for (index_t i0 = o.part * tr; i0 < a.rows(); i0 += tr * o.parts) {
    const index_t nr = std::min(tr, a.rows() - i0);
    // With `upper`, a tile holds a pair i < j when its last column passes its first row.
    const index_t j_first = upper ? (i0 + 1) / tc * tc : 0;
    for (index_t j0 = j_first; j0 < b.rows(); j0 += tc) {
      const index_t nc = std::min(tc, b.rows() - j0);
      const matrix_view<T> c(backends::data_ptr(dev), nr, nc);
      backends::gemm(pol, T(1), a.view().row_block(i0, nr),
                     backends::transpose(b.view().row_block(j0, nc)), T(0), c);
      T* out = backends::data_ptr(dev);
      if constexpr (host) {
        // (raw rows exist in host memory only)
        if (scale && (a_inverse != nullptr || b_inverse != nullptr)) {
          unitsface::detail::for_each_share(nr, shares, [&](index_t, index_t r0, index_t r1) {
            for (index_t r = r0; r < r1; ++r)
              scale_row(out + r * nc, nc, a_inverse != nullptr ? a_inverse[i0 + r] : T(1),
                        b_inverse != nullptr ? b_inverse + j0 : nullptr);
          });
        }
      } else {
        backends::copy_to_host(pol, backends::data_ptr(dev), nr * nc, staged.data());
        out = staged.data();
      }
      visit(i0, j0, matrix_view<T>(out, nr, nc));
    }
  }
}

}  // namespace detail

/// Calls visit(i0, j0, tile) for every tile of the cosine similarities of a's rows with b's
/// rows, tile(r, c) = cos(a_{i0 + r}, b_{j0 + c}) in host memory (valid during the call).
/// With `upper` (a and b the same set), only tiles that hold some pair i < j are computed; the
/// visitor still sees whole tiles and keeps the pairs it wants.
template <class T, class Policy, class Visit>
void for_each_similarity_tile(const Policy& pol, const unit_rows<T, Policy>& a,
                              const unit_rows<T, Policy>& b, Visit&& visit,
                              const tile_options& o = {}, bool upper = false) {
  detail::similarity_tiles(
      pol, a, b,
      [&](index_t i0, index_t j0, matrix_view<T> tile) {
        visit(i0, j0, matrix_view<const T>(tile));
      },
      o, upper, true);
}

/// for_each_similarity_tile with each tile's rows shared out among host threads: `states` holds
/// one state per share (sized by detail::row_shares(o)); row(state, i, j0, scores, cols) is
/// called for row i of the tile at column j0, scores[c] = cos(a_i, b_{j0 + c}) for c < cols.
/// A share's rows are visited in order, always with the same state; the caller merges the
/// states in share order.
template <class T, class Policy, class State, class Row>
void for_each_similarity_row(const Policy& pol, const unit_rows<T, Policy>& a,
                             const unit_rows<T, Policy>& b, std::vector<State>& states, Row&& row,
                             const tile_options& o = {}, bool upper = false) {
  detail::require(!states.empty(), "states", "needs one state per share");
  const T* const a_inverse = a.inverse_norms();
  const T* const b_inverse = b.inverse_norms();
  const bool raw = a_inverse != nullptr || b_inverse != nullptr;
  detail::similarity_tiles(
      pol, a, b,
      [&](index_t i0, index_t j0, matrix_view<T> tile) {
        unitsface::detail::for_each_share(
            tile.rows, index_t(states.size()), [&](index_t k, index_t r0, index_t r1) {
              State& s = states[std::size_t(k)];
              for (index_t r = r0; r < r1; ++r) {
                T* scores = &tile(r, 0);
                if (raw) {  // scaled here, then reduced while the row is in cache
                  detail::scale_row(scores, tile.cols,
                                    a_inverse != nullptr ? a_inverse[i0 + r] : T(1),
                                    b_inverse != nullptr ? b_inverse + j0 : nullptr);
                }
                row(s, i0 + r, j0, static_cast<const T*>(scores), tile.cols);
              }
            });
      },
      o, upper, false);
}

}  // namespace unitsface::protocols
