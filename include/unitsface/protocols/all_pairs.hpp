// unitsface protocols: MFR-style all-pairs verification of one labelled set.
//
// Every unordered pair i < j of the N rows is scored (cosine); it is genuine when the labels
// agree. The N(N - 1) / 2 scores are never stored: first the genuine scores, few next to the
// impostors, from the label groups' own products (the rows of whole groups gathered into bands
// of 256 rows: about N * 256 * D products); then one tiled pass of the backend's product
// over every pair (upper triangle only) counts each impostor score into the buckets of the
// sorted genuine scores (metrics::genuine_buckets), which give the exact AUC, EER and at-most
// TAR@FAR. Memory O(genuine + tile), the buckets once per host thread (each tile's rows are
// shared out among them); the products of all pairs are computed once, against storing or
// sorting 10^12 impostor scores. A row's genuine columns come from the label groups, so its
// impostors are counted in runs, with no label test. For a policy whose memory is not the
// host's, all_pairs_device.hpp counts each tile on the device instead (the same results); for
// a Thrust system's device (cuda_policy) all_pairs does not compile without it.
//
// all_pairs_histogram, for sets whose genuine pairs are too many to keep as well: the first
// pass bins every score into a metrics::score_histogram (mergeable, serialisable: the AUC and
// EER within one bin, see score_histogram.hpp); the second keeps only the scores of the bins
// that decide each FAR target (metrics::histogram_refinement), so the at-most TAR@FAR is
// exact. Memory O(bins + the scores of two bins per target + tile).
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>
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
  /// Where the policy is a Thrust system whose memory is not the host's (all_pairs_device.hpp,
  /// which such a call must include): count the tiles' impostors on the device (true) or copy
  /// every tile to the host (false, the path of the other policies; the same results, kept
  /// to compare with).
  bool device_reduction = true;
};

namespace detail {

/// The checked, normalised rows of an all-pairs set, with their labels grouped.
template <class T, class Policy>
struct labelled_rows {
  std::vector<long long> labels;
  label_groups groups;
  unit_rows<T, Policy> rows;
  template <class E, class L>
  labelled_rows(const Policy& pol, matrix_view<E> features, vector_view<L> l,
                const all_pairs_options& o)
      : labels(checked_labels(features, l, o)), groups(labels), rows(pol, features, "features") {
    require(rows.rows() >= 2, "features", "needs at least two rows");
  }
  template <class E, class L>
  static std::vector<long long> checked_labels(matrix_view<E> features, vector_view<L> l,
                                               const all_pairs_options& o) {
    metrics::detail::require_far_targets(o.far_targets, "far_targets");
    unitsface::detail::require_size("labels", l.size(), features.rows);
    return labels_of(l, "labels");
  }
  /// The shares a pass cuts each tile's rows into (one state each).
  index_t shares(const tile_options& tiles) const { return row_shares(tiles); }
  /// One tiled pass over every pair i < j, each tile's rows shared out among host threads
  /// (states: one per share): impostors(state, scores, n) for every run of n impostor pairs of
  /// a row (contiguous scores), genuine(state, score) for every genuine pair. A row's genuine
  /// columns come from the label groups, so the impostors go by in runs without a label test.
  template <class State, class Impostors, class Genuine>
  void for_each_pair(const Policy& pol, const tile_options& tiles, std::vector<State>& states,
                     Impostors&& impostors, Genuine&& genuine) const {
    for_each_similarity_row(
        pol, rows, rows, states,
        [&](State& st, index_t i, index_t j0, const T* row, index_t cols) {
          index_t c = i + 1 > j0 ? i + 1 - j0 : 0;  // the pairs i < j only
          if (c >= cols) return;
          const auto [first, last] = groups.rows(labels[std::size_t(i)]);
          for (auto g = std::lower_bound(first, last, j0 + c); g != last && *g < j0 + cols; ++g) {
            const index_t cg = *g - j0;
            if (cg > c) impostors(st, row + c, cg - c);
            genuine(st, static_cast<double>(row[cg]));
            c = cg + 1;
          }
          if (cols > c) impostors(st, row + c, cols - c);
        },
        tiles, true);
  }
  /// A pass over the genuine pairs alone (i < j, one label), for a pass that needs no impostor:
  /// the rows of consecutive label groups (label order) gathered into bands of at most 256
  /// rows or one tile's width (a larger group is a band of its own; groups of one row are
  /// skipped), each band's pairs tiled as every pair is: about N * 256 * D products instead of
  /// N^2 D / 2. genuine(state, score) for each, from the band's own products: a score may
  /// differ in its last bits from the same pair's in for_each_pair, which only matters where
  /// both passes read it (they do not).
  template <class E, class State, class Genuine>
  void for_each_genuine_pair(const Policy& pol, matrix_view<E> features, const tile_options& tiles,
                             std::vector<State>& states, Genuine&& genuine) const {
    const std::vector<index_t>& order = groups.order();
    const std::vector<long long>& lab = groups.sorted_labels();
    const index_t n = index_t(order.size()), D = features.cols;
    // 256 rows: the bands' products are about N * 256 * D in all (0.05 % of all pairs' at
    // N = 1,000,000, 2.6 % at 20,000), and a 256 x 256 x D product still runs near full speed.
    const index_t width = std::min<index_t>(tiles.tile_cols, 256);
    std::vector<std::remove_const_t<E>> band;
    std::vector<index_t> group_end;  // per band row: where its group ends (band rows)
    for (index_t b0 = 0; b0 < n;) {
      // Whole groups, at least one, up to `width` rows; only groups of two or more.
      index_t b1 = b0, m = 0;
      band.clear();
      group_end.clear();
      while (b1 < n) {
        index_t g1 = b1 + 1;
        while (g1 < n && lab[std::size_t(g1)] == lab[std::size_t(b1)]) ++g1;
        if (m > 0 && m + (g1 - b1) > width) break;
        if (g1 - b1 > 1) {
          for (index_t k = b1; k < g1; ++k) {
            const index_t r = order[std::size_t(k)];
            for (index_t d = 0; d < D; ++d) band.push_back(features(r, d));
            group_end.push_back(m + (g1 - b1));
          }
          m += g1 - b1;
        }
        b1 = g1;
      }
      b0 = b1;
      if (m == 0) continue;
      const unit_rows<T, Policy> rows_b(
          pol, matrix_view<const std::remove_const_t<E>>(band.data(), m, D), "features");
      for_each_similarity_row(
          pol, rows_b, rows_b, states,
          [&](State& st, index_t i, index_t j0, const T* row, index_t cols) {
            const index_t lo = std::max(i + 1, j0);
            const index_t hi = std::min(group_end[std::size_t(i)], j0 + cols);
            for (index_t j = lo; j < hi; ++j) genuine(st, static_cast<double>(row[j - j0]));
          },
          tiles, true);
    }
  }
};

/// Whether all_pairs counts the impostors of a policy's tiles on its device: specialised in
/// all_pairs_device.hpp (the Thrust systems whose memory is not the host's), with
/// summarize<T>(pol, set, genuine scores, options). all_pairs refuses to compile for such a
/// system without it (thrust_device_policy): every tile would come to the host, some 10^3
/// times slower at N = 10^6 on a GPU, and two translation units that differ in it would
/// define all_pairs differently.
template <class Policy>
struct device_pair_reduction : std::false_type {};

/// A Thrust system's policy (thrust_policy<System>) whose memory is not the host's.
template <class Policy>
constexpr bool thrust_device_policy = requires {
  typename Policy::system;
  requires !Policy::host_memory;
};

/// The passes of all_pairs_histogram (into a score_histogram, then a histogram_refinement:
/// both add(score, genuine)), as function objects a distributed pass can share.
struct add_impostor_run {
  template <class Sink, class T>
  void operator()(Sink& sink, const T* s, index_t n) const {
    for (index_t c = 0; c < n; ++c) sink.add(static_cast<double>(s[c]), false);
  }
};
struct add_genuine {
  template <class Sink>
  void operator()(Sink& sink, double s) const {
    sink.add(s, true);
  }
};

}  // namespace detail

/// All-pairs verification of `features` (N x D, host) with one label per row, similarities on
/// `pol` in precision T.
template <class T, class Policy, class E, class L>
metrics::corner_summary all_pairs(const Policy& pol, matrix_view<E> features, vector_view<L> labels,
                                  const all_pairs_options& o = {}) {
  const detail::labelled_rows<T, Policy> set(pol, features, labels, o);
  const index_t shares = set.shares(o.tiles);
  // First the genuine scores (the label groups' own products), then every pair once, the
  // impostors counted against them.
  std::vector<std::vector<double>> kept(std::size_t(shares), std::vector<double>{});
  set.for_each_genuine_pair(pol, features, o.tiles, kept,
                            [](std::vector<double>& g, double s) { g.push_back(s); });
  std::vector<double> genuine;
  for (const auto& g : kept) genuine.insert(genuine.end(), g.begin(), g.end());
  unitsface::detail::require(!genuine.empty(), "labels",
                             "no two rows share a label: there is no genuine pair");
  if constexpr (detail::device_pair_reduction<Policy>::value) {
    if (o.device_reduction) {
      return detail::device_pair_reduction<Policy>::template summarize<T>(pol, set,
                                                                          std::move(genuine), o);
    }
  } else {
    static_assert(!detail::thrust_device_policy<Policy>,
                  "all_pairs on a device's Thrust system: include "
                  "unitsface/protocols/all_pairs_device.hpp, which counts the tiles there");
  }
  std::vector<metrics::genuine_buckets> buckets(std::size_t(shares),
                                                metrics::genuine_buckets(std::move(genuine)));
  set.for_each_pair(
      pol, o.tiles, buckets,
      [](metrics::genuine_buckets& b, const T* s, index_t n) {
        b.add_impostors(vector_view<const T>(s, n));
      },
      [](auto&, double) {});
  for (std::size_t k = 1; k < buckets.size(); ++k) buckets.front().merge(buckets[k]);
  return metrics::summarize_corners(buckets.front(), o.far_targets);
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
  const index_t shares = set.shares(o.tiles);
  std::vector<metrics::score_histogram> h(std::size_t(shares), r.histogram);
  set.for_each_pair(pol, o.tiles, h, detail::add_impostor_run{}, detail::add_genuine{});
  for (const auto& part : h) r.histogram.merge(part);
  unitsface::detail::require(r.histogram.genuine_total() > 0, "labels",
                             "no two rows share a label: there is no genuine pair");
  std::vector<metrics::histogram_refinement> refine(
      std::size_t(shares), metrics::histogram_refinement(r.histogram, o.far_targets));
  set.for_each_pair(pol, o.tiles, refine, detail::add_impostor_run{}, detail::add_genuine{});
  for (std::size_t k = 1; k < refine.size(); ++k) refine.front().merge_kept(refine[k].kept());
  r.at_most = refine.front().results();
  r.auc = r.histogram.auc();
  r.eer = r.histogram.eer();
  return r;
}

}  // namespace unitsface::protocols
