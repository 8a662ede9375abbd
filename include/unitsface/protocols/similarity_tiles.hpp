// unitsface protocols: cosine similarities of two sets of embeddings, one tile at a time, by the
// backend's matrix product.
//
// The rows are L2-normalised once on the host (in double, then stored as T; NaN/Inf and
// zero-norm rows refused, naming the argument and the row), placed in the policy's memory, and
// every tile of rows [i0, i0 + tile_rows) x [j0, j0 + tile_cols) is one backends::gemm into a
// buffer of the policy's memory, handed to the caller's visitor (copied to the host first when
// the policy's memory is not the host's) before the next tile is computed. Memory: the two
// normalised sets and one tile (tile_rows x tile_cols), never the whole similarity matrix; a
// protocol reduces each tile as it arrives (best scores per identity, rank counts, bucket counts).
//
// Scores that are equal by construction (a row and its copy against a third row) must stay
// equal for a protocol's ties to be counted as ties: that holds when the backend's product
// computes an entry the same way wherever it sits in a tile, as the protocol conformance cases
// (which hold such copies) check on every backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
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

 private:
  std::vector<index_t> rows_;      // row indices by (label, row)
  std::vector<long long> sorted_;  // their labels
};

}  // namespace detail

/// The L2-normalised rows of a host matrix, held in the policy's memory as T.
template <class T, class Policy>
class unit_rows {
 public:
  /// Normalises `features` (host memory, any element type convertible to double); `name`
  /// names the argument in errors.
  template <class E>
  unit_rows(const Policy& pol, matrix_view<E> features, const char* name)
      : rows_(features.rows),
        cols_(features.cols),
        buf_(backends::make_buffer<T>(pol, checked_size(features, name))) {
    std::vector<T> host(static_cast<std::size_t>(rows_ * cols_));
    for (index_t i = 0; i < rows_; ++i) {
      double ss = 0;
      for (index_t c = 0; c < cols_; ++c) {
        const double x = static_cast<double>(features(i, c));
        if (!std::isfinite(x)) {
          throw invalid_argument(
              name, "row " + std::to_string(i) + " column " + std::to_string(c) + " is not finite");
        }
        ss += x * x;
      }
      detail::require(ss > 0, name, "row " + std::to_string(i) + " has zero norm");
      detail::require(std::isfinite(ss), name,
                      "row " + std::to_string(i) + " has a norm beyond the range of double");
      const double n = std::sqrt(ss);
      for (index_t c = 0; c < cols_; ++c)
        host[static_cast<std::size_t>(i * cols_ + c)] =
            static_cast<T>(static_cast<double>(features(i, c)) / n);
    }
    backends::copy_from_host(pol, host.data(), rows_ * cols_, backends::data_ptr(buf_));
  }

  index_t rows() const { return rows_; }
  index_t cols() const { return cols_; }
  /// The rows in the policy's memory.
  matrix_view<const T> view() const {
    return matrix_view<const T>(backends::data_ptr(buf_), rows_, cols_);
  }

 private:
  template <class E>
  static index_t checked_size(matrix_view<E> features, const char* name) {
    detail::require(features.rows > 0, name, "has no row");
    detail::require(features.cols > 0, name, "has no column");
    return features.rows * features.cols;
  }
  index_t rows_, cols_;
  decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0)) buf_;
};

/// Calls visit(i0, j0, tile) for every tile of the cosine similarities of a's rows with b's
/// rows, tile(r, c) = cos(a_{i0 + r}, b_{j0 + c}) in host memory (valid during the call).
/// With `upper` (a and b the same set), only tiles that hold some pair i < j are computed; the
/// visitor still sees whole tiles and keeps the pairs it wants.
template <class T, class Policy, class Visit>
void for_each_similarity_tile(const Policy& pol, const unit_rows<T, Policy>& a,
                              const unit_rows<T, Policy>& b, Visit&& visit,
                              const tile_options& o = {}, bool upper = false) {
  detail::require_tiles(o);
  detail::require(a.cols() == b.cols(), "features",
                  "the two sets have different dimensions (" + std::to_string(a.cols()) + " and " +
                      std::to_string(b.cols()) + ")");
  const index_t tr = std::min(o.tile_rows, a.rows()), tc = std::min(o.tile_cols, b.rows());
  // A policy whose memory is the host's hands its own buffer to the visitor (no copy).
  constexpr bool in_host_memory = [] {
    if constexpr (requires { Policy::host_memory; }) {
      return bool(Policy::host_memory);
    } else {
      return false;
    }
  }();
  auto dev = backends::make_buffer<T>(pol, tr * tc);
  std::vector<T> host(in_host_memory ? 0 : static_cast<std::size_t>(tr * tc));
  for (index_t i0 = o.part * tr; i0 < a.rows(); i0 += tr * o.parts) {
    const index_t nr = std::min(tr, a.rows() - i0);
    // With `upper`, a tile holds a pair i < j when its last column passes its first row.
    const index_t j_first = upper ? (i0 + 1) / tc * tc : 0;
    for (index_t j0 = j_first; j0 < b.rows(); j0 += tc) {
      const index_t nc = std::min(tc, b.rows() - j0);
      const matrix_view<T> c(backends::data_ptr(dev), nr, nc);
      backends::gemm(pol, T(1), a.view().row_block(i0, nr),
                     backends::transpose(b.view().row_block(j0, nc)), T(0), c);
      const T* out = backends::data_ptr(dev);
      if constexpr (!in_host_memory) {
        backends::copy_to_host(pol, backends::data_ptr(dev), nr * nc, host.data());
        out = host.data();
      }
      visit(i0, j0, matrix_view<const T>(out, nr, nc));
    }
  }
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
  for_each_similarity_tile(
      pol, a, b,
      [&](index_t i0, index_t j0, matrix_view<const T> tile) {
        unitsface::detail::for_each_share(tile.rows, index_t(states.size()),
                                          [&](index_t k, index_t r0, index_t r1) {
                                            State& s = states[std::size_t(k)];
                                            for (index_t r = r0; r < r1; ++r)
                                              row(s, i0 + r, j0, &tile(r, 0), tile.cols);
                                          });
      },
      o, upper);
}

}  // namespace unitsface::protocols
