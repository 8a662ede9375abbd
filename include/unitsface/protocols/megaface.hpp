// unitsface protocols: MegaFace Challenge 1 with a single mate at a time.
//
// For every identity of the probe set and every ORDERED pair (p, q) of two different images of
// it, the gallery is the distractors plus q alone: rank(p, q) = 1 + the number of distractors d
// with score(p, d) >= score(p, q) (ties ranked above). Reported: the number of such pairs
// (sum of k(k - 1) over identities), rank-1 (the fraction of pairs whose mate scores strictly
// above every distractor) and the CMC at ranks 1..max_rank; and verification with the
// unordered same-identity probe pairs as genuine (sum k(k - 1) / 2) and every probe-distractor
// pair as impostor (n x M): AUC, EER and TAR@FAR under the at-most rule.
//
// Two tiled passes of the backend's product: probes x probes keeps the mate pairs' scores (few:
// sum k(k - 1)); probes x distractors keeps, per probe, its max_rank highest distractor scores
// (all a rank up to max_rank needs) and counts every impostor into the buckets of the genuine
// scores (metrics::genuine_buckets: exact AUC, EER and at-most TAR@FAR without keeping the
// n x M impostor scores). Memory: O(mate pairs + probes x max_rank + tile), and one bucket set
// per host thread (the tiles' rows are shared out among them, their buckets merged).
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/genuine_buckets.hpp"
#include "unitsface/protocols/identification.hpp"
#include "unitsface/protocols/similarity_tiles.hpp"

namespace unitsface::protocols {

struct megaface_options {
  index_t max_rank = 10;
  std::vector<double> far_targets{1e-6, 1e-5, 1e-4, 1e-3};
  tile_options tiles;
};

struct megaface_result {
  index_t probe_mate_pairs = 0;  ///< ordered (p, q) pairs, sum k(k - 1)
  double rank1 = 0;
  std::vector<double> cmc;  ///< ranks 1..max_rank over the ordered pairs
  /// Verification, genuine = the unordered same-identity probe pairs, impostor = every
  /// probe-distractor pair: counts, AUC, EER and the at-most TAR at each FAR target.
  metrics::corner_summary verification;
};

/// MegaFace single-mate identification and verification of probes (n x D, labels) against
/// distractors (M x D), host memory, similarities on `pol` in precision T.
template <class T, class Policy, class E, class LP>
megaface_result megaface_single_mate(const Policy& pol, matrix_view<E> probes,
                                     vector_view<LP> probe_labels, matrix_view<E> distractors,
                                     const megaface_options& o = {}) {
  using unitsface::detail::require;
  require(o.max_rank >= 1, "max_rank", "must be >= 1");
  metrics::detail::require_far_targets(o.far_targets, "far_targets");
  unitsface::detail::require_size("probe_labels", probe_labels.size(), probes.rows);
  const auto pl = detail::labels_of(probe_labels, "probe_labels");
  const unit_rows<T, Policy> p(pol, probes, "probes");
  const unit_rows<T, Policy> d(pol, distractors, "distractors");
  require(p.cols() == d.cols(), "distractors",
          "has " + std::to_string(d.cols()) + " columns, the probes " + std::to_string(p.cols()));
  const index_t n = p.rows(), K = o.max_rank;

  // Pass 1: the mate pairs (p, q), p != q, with their scores.
  struct mate_pair {
    index_t p;
    double score;
  };
  std::vector<mate_pair> mates;
  std::vector<double> genuine;
  for_each_similarity_tile(
      pol, p, p,
      [&](index_t i0, index_t j0, matrix_view<const T> tile) {
        for (index_t r0 = 0; r0 < tile.rows; ++r0) {
          const index_t i = i0 + r0;
          for (index_t c = 0; c < tile.cols; ++c) {
            const index_t j = j0 + c;
            if (j == i || pl[std::size_t(i)] != pl[std::size_t(j)]) continue;
            const double s = static_cast<double>(tile(r0, c));
            mates.push_back({i, s});
            if (i < j) genuine.push_back(s);
          }
        }
      },
      o.tiles);
  require(!mates.empty(), "probe_labels",
          "no identity has two probe images: there is no mate pair to rank");

  // Pass 2: per probe its K highest distractor scores; every impostor into the buckets, one
  // bucket set per share of the tiles' rows (the same genuine scores), merged in share order.
  std::vector<double> best(std::size_t(n * K), detail::minus_inf);  // descending per probe
  std::vector<metrics::genuine_buckets> shares(std::size_t(detail::row_shares(o.tiles)),
                                               metrics::genuine_buckets(std::move(genuine)));
  for_each_similarity_row(
      pol, p, d, shares,
      [&](metrics::genuine_buckets& buckets, index_t i, index_t, const T* row, index_t cols) {
        buckets.add_impostors(vector_view<const T>(row, cols));
        double* b = best.data() + i * K;  // most chunks: one vectorised maximum, nothing enters
        detail::for_each_chunk_above(
            row, cols, [&] { return b[K - 1]; },
            [&](index_t c) {
              const double s = static_cast<double>(row[c]);
              if (s <= b[K - 1]) return;
              index_t e = K - 1;  // insertion into the descending list
              while (e > 0 && b[e - 1] < s) {
                b[e] = b[e - 1];
                --e;
              }
              b[e] = s;
            });
      },
      o.tiles);
  metrics::genuine_buckets& buckets = shares.front();
  for (std::size_t k = 1; k < shares.size(); ++k) buckets.merge(shares[k]);

  // Rank of (p, q) = 1 + the distractors scoring >= score(p, q); K + 1: beyond the list.
  megaface_result r;
  r.probe_mate_pairs = index_t(mates.size());
  std::vector<index_t> at_rank(std::size_t(K) + 2, 0);
  for (const auto& m : mates) {
    const double* b = best.data() + m.p * K;
    index_t above = 0;
    while (above < K && b[above] >= m.score) ++above;
    ++at_rank[std::size_t(above + 1)];
  }
  r.rank1 = double(at_rank[1]) / double(r.probe_mate_pairs);
  index_t found = 0;
  for (index_t k = 1; k <= K; ++k) {
    found += at_rank[std::size_t(k)];
    r.cmc.push_back(double(found) / double(r.probe_mate_pairs));
  }
  r.verification = metrics::summarize_corners(buckets, o.far_targets);
  return r;
}

}  // namespace unitsface::protocols
