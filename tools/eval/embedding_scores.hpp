// unitsface-eval: scores from embeddings. The rows are L2-normalised in double and a pair is
// scored by the cosine similarity of its two rows, either for the pairs of a pair list or for
// every pair i < j of one identity-labelled set, which also gives leave-one-out identification
// (each image a probe against all the others).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "input_error.hpp"
#include "npy_reader.hpp"
#include "pairs_reader.hpp"
#include "score_set.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::eval {

/// Rows scaled to unit length; a zero row has no direction and is refused.
inline void normalise_rows(npy_matrix& m, const std::string& name) {
  for (std::uint64_t r = 0; r < m.rows; ++r) {
    double* row = m.data.data() + r * m.cols;
    double ss = 0;
    for (std::uint64_t c = 0; c < m.cols; ++c) ss += row[c] * row[c];
    if (!(ss > 0)) throw input_error(name + ": row " + std::to_string(r) + " has zero norm");
    // An overflowing sum of squares would make every cosine 0: refused rather than wrong.
    if (!std::isfinite(ss)) {
      throw input_error(name + ": row " + std::to_string(r) + " is too large to normalise");
    }
    const double inv = 1.0 / std::sqrt(ss);
    for (std::uint64_t c = 0; c < m.cols; ++c) row[c] *= inv;
  }
}

/// The cosine similarity of each listed pair (rows normalised), in list order.
inline score_set score_pairs(const npy_matrix& m, const pair_list& pairs,
                             const std::string& where) {
  score_set s;
  s.scores.resize(pairs.labels.size());
  s.labels = pairs.labels;
  for (std::size_t k = 0; k < pairs.labels.size(); ++k) {
    const double* a = m.data.data() + pairs.first[k] * m.cols;
    const double* b = m.data.data() + pairs.second[k] * m.cols;
    double dot = 0;
    for (std::uint64_t c = 0; c < m.cols; ++c) dot += a[c] * b[c];
    s.scores[k] = dot;
    s.genuine += pairs.labels[k];
  }
  require_both_classes(s, where);
  return s;
}

/// Leave-one-out closed-set identification of an identity-labelled set.
struct identification_summary {
  std::uint64_t probes = 0;  ///< every image
  std::uint64_t mated = 0;   ///< images whose identity has at least one other image
  std::vector<double> cmc;   ///< ranks 1..max_rank over the mated probes (empty when none)
};

/// Called after each tile of rows with the rows done so far (for a progress bar).
using work_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Every pair i < j of the rows (normalised), in row-major order (i, then j), genuine when the
/// identities agree; and the leave-one-out rank of each image's first mate among the others
/// (rank = 1 + images scored higher + equal-scored images earlier in the file, the
/// identification metrics' convention), counted into a CMC over mated probes only.
/// The similarities come from the library's gemm one tile of rows at a time, so memory is the
/// scores plus one tile x rows block.
inline score_set score_all_pairs(const npy_matrix& m, const std::vector<std::int64_t>& ids,
                                 const std::string& where, std::uint64_t max_pairs,
                                 index_t max_rank, identification_summary& ident,
                                 const work_progress& progress = {}) {
  const std::uint64_t n = m.rows;
  const std::uint64_t pairs = n * (n - 1) / 2;
  if (pairs > max_pairs) {
    throw input_error(where + ": " + std::to_string(n) + " embeddings make " +
                      std::to_string(pairs) + " pairs, more than --max-pairs " +
                      std::to_string(max_pairs) + " (each pair costs 9 bytes)");
  }
  score_set s;
  s.scores.reserve(pairs);
  s.labels.reserve(pairs);
  ident = {};
  ident.probes = n;
  std::vector<std::uint64_t> found(static_cast<std::size_t>(max_rank) + 1, 0);

  // A tile of rows against all rows: about 32 MiB of similarities per tile.
  const std::uint64_t tile = std::max<std::uint64_t>(1, (std::uint64_t(4) << 20) / n);
  std::vector<double> sim(std::min(tile, n) * n);
  const matrix_view<const double> all(m.data.data(), index_t(n), index_t(m.cols));
  // The transpose of all rows: D x n, read with the row stride 1.
  const matrix_view<const double> all_t(m.data.data(), index_t(m.cols), index_t(n), 1,
                                        index_t(m.cols));
  for (std::uint64_t i0 = 0; i0 < n; i0 += tile) {
    const std::uint64_t rows = std::min(tile, n - i0);
    const matrix_view<double> c(sim.data(), index_t(rows), index_t(n));
    backends::gemm(host_policy{}, 1.0, all.row_block(index_t(i0), index_t(rows)), all_t, 0.0, c);
    for (std::uint64_t r = 0; r < rows; ++r) {
      const std::uint64_t i = i0 + r;
      const double* row = sim.data() + r * n;
      for (std::uint64_t j = i + 1; j < n; ++j) {
        const bool genuine = ids[i] == ids[j];
        s.scores.push_back(row[j]);
        s.labels.push_back(genuine);
        s.genuine += genuine;
      }
      // The best-scored mate (the earliest on ties), then the images ranked before it.
      std::uint64_t mate = n;
      for (std::uint64_t j = 0; j < n; ++j) {
        if (j != i && ids[j] == ids[i] && (mate == n || row[j] > row[mate])) mate = j;
      }
      if (mate == n) continue;
      ++ident.mated;
      std::uint64_t above = 0;
      for (std::uint64_t j = 0; j < n; ++j) {
        above += j != i && (row[j] > row[mate] || (row[j] == row[mate] && j < mate));
      }
      if (above < std::uint64_t(max_rank)) ++found[static_cast<std::size_t>(above + 1)];
    }
    if (progress) progress(i0 + rows, n);
  }
  if (ident.mated > 0) {
    std::uint64_t cum = 0;
    for (index_t r = 1; r <= max_rank; ++r) {
      cum += found[static_cast<std::size_t>(r)];
      ident.cmc.push_back(double(cum) / double(ident.mated));
    }
  }
  require_both_classes(s, where);
  return s;
}

/// The identities must label the embeddings one to one.
inline void require_identity_count(const npy_matrix& m, const std::vector<std::int64_t>& ids,
                                   const std::string& emb_name, const std::string& id_name) {
  if (ids.size() != m.rows) {
    throw input_error("shape mismatch: " + emb_name + " holds " + std::to_string(m.rows) +
                      " embeddings, " + id_name + " holds " + std::to_string(ids.size()) +
                      " identities (header field 'shape')");
  }
}

}  // namespace unitsface::eval
