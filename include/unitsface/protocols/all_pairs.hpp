// unitsface protocols: MFR-style all-pairs verification of one labelled set.
//
// Every unordered pair i < j of the N rows is scored (cosine); it is genuine when the labels
// agree. The N(N - 1) / 2 scores are never stored: a first tiled pass of the backend's product
// (upper triangle only) keeps the genuine scores, few next to the impostors; a second counts
// every impostor score into the buckets of the sorted genuine scores (metrics::genuine_buckets),
// which give the exact AUC, EER and at-most TAR@FAR. Memory O(genuine + tile); the products are
// computed twice (2x the floor of one pass), against storing or sorting 10^12 impostor scores.
//
// all_pairs_histogram, for sets whose genuine pairs are too many to keep as well: the first
// pass bins every score into a metrics::score_histogram (mergeable, serialisable: the AUC and
// EER within one bin, see score_histogram.hpp); the second keeps only the scores of the bins
// that decide each FAR target (metrics::histogram_refinement), so the at-most TAR@FAR is
// exact. Memory O(bins + the scores of two bins per target + tile).
#pragma once

#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/genuine_buckets.hpp"
#include "unitsface/metrics/histogram_refinement.hpp"
#include "unitsface/metrics/score_histogram.hpp"
#include "unitsface/protocols/identification.hpp"
#include "unitsface/protocols/similarity_tiles.hpp"

namespace unitsface::protocols {

struct all_pairs_options {
  std::vector<double> far_targets{1e-6, 1e-5, 1e-4, 1e-3, 1e-2};
  tile_options tiles;
};

namespace detail {

/// The checked, normalised rows of an all-pairs set, with their labels.
template <class T, class Policy>
struct labelled_rows {
  std::vector<long long> labels;
  unit_rows<T, Policy> rows;
  template <class E, class L>
  labelled_rows(const Policy& pol, matrix_view<E> features, vector_view<L> l,
                const all_pairs_options& o)
      : labels(checked_labels(features, l, o)), rows(pol, features, "features") {
    require(rows.rows() >= 2, "features", "needs at least two rows");
  }
  template <class E, class L>
  static std::vector<long long> checked_labels(matrix_view<E> features, vector_view<L> l,
                                               const all_pairs_options& o) {
    metrics::detail::require_far_targets(o.far_targets, "far_targets");
    unitsface::detail::require_size("labels", l.size(), features.rows);
    return labels_of(l, "labels");
  }
  /// One tiled pass over every pair i < j: use(genuine, score).
  template <class Use>
  void for_each_pair(const Policy& pol, const tile_options& tiles, Use&& use) const {
    for_each_similarity_tile(
        pol, rows, rows,
        [&](index_t i0, index_t j0, matrix_view<const T> tile) {
          for (index_t r0 = 0; r0 < tile.rows; ++r0) {
            const index_t i = i0 + r0;
            const index_t c0 = i + 1 > j0 ? i + 1 - j0 : 0;
            for (index_t c = c0; c < tile.cols; ++c)
              use(labels[std::size_t(i)] == labels[std::size_t(j0 + c)],
                  static_cast<double>(tile(r0, c)));
          }
        },
        tiles, true);
  }
};

}  // namespace detail

/// All-pairs verification of `features` (N x D, host) with one label per row, similarities on
/// `pol` in precision T.
template <class T, class Policy, class E, class L>
metrics::corner_summary all_pairs(const Policy& pol, matrix_view<E> features, vector_view<L> labels,
                                  const all_pairs_options& o = {}) {
  const detail::labelled_rows<T, Policy> set(pol, features, labels, o);
  std::vector<double> genuine;
  set.for_each_pair(pol, o.tiles, [&](bool same, double s) {
    if (same) genuine.push_back(s);
  });
  unitsface::detail::require(!genuine.empty(), "labels",
                             "no two rows share a label: there is no genuine pair");
  metrics::genuine_buckets buckets(std::move(genuine));
  set.for_each_pair(pol, o.tiles, [&](bool same, double s) {
    if (!same) buckets.add_impostor(s);
  });
  return metrics::summarize_corners(buckets, o.far_targets);
}

struct all_pairs_histogram_result {
  metrics::score_histogram histogram;  ///< every pair's score, by class
  double auc = 0;                      ///< from the histogram: within one bin (score_histogram.hpp)
  metrics::eer_result eer;             ///< from the histogram: within one bin
  std::vector<metrics::tar_at_far_result> at_most;  ///< exact (histogram_refinement)
};

/// All-pairs verification through a histogram of `bins` bins over [-1, 1] and a refining pass.
template <class T, class Policy, class E, class L>
all_pairs_histogram_result all_pairs_histogram(const Policy& pol, matrix_view<E> features,
                                               vector_view<L> labels,
                                               const all_pairs_options& o = {},
                                               index_t bins = 65536) {
  const detail::labelled_rows<T, Policy> set(pol, features, labels, o);
  all_pairs_histogram_result r{metrics::score_histogram(bins, -1.0, 1.0), 0.0, {}, {}};
  set.for_each_pair(pol, o.tiles, [&](bool same, double s) { r.histogram.add(s, same); });
  unitsface::detail::require(r.histogram.genuine_total() > 0, "labels",
                             "no two rows share a label: there is no genuine pair");
  metrics::histogram_refinement refine(r.histogram, o.far_targets);
  set.for_each_pair(pol, o.tiles, [&](bool same, double s) { refine.add(s, same); });
  r.auc = r.histogram.auc();
  r.eer = r.histogram.eer();
  r.at_most = refine.results();
  return r;
}

}  // namespace unitsface::protocols
