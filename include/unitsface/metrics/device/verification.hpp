// unitsface metrics on a Thrust system: the verification metrics of scores and labels that
// live in a Thrust policy's memory (thrust_cpp, thrust_omp, cuda_policy).
//
//   namespace umd = unitsface::metrics::device;
//   auto s = unitsface::thrust_adapt::vector(scores_vec);   // views of the system's memory
//   auto y = unitsface::thrust_adapt::vector(labels_vec);
//   auto summary = umd::summarize_verification(unitsface::thrust_omp, s, y);
//
//   auto corners = umd::summarize_corners(unitsface::thrust_omp, s, y);  // AUC, EER, at-most
//
//   umd::roc_points points(pol, s, y);                      // sort once, then any metric:
//   auto roc = unitsface::metrics::compute_roc(points, /*drop_intermediate=*/true);
//   auto ijbc = unitsface::metrics::tar_at_far(points, {1e-4, 1e-5}, far_rule::nearest);
//
// Each function checks its own arguments first (as its host overload does), builds the ROC
// points on the system (roc_points.hpp) and applies the host rules to them, so results,
// exceptions and argument names are those of the host path.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "unitsface/core/view.hpp"
#include "unitsface/metrics/corner_summary.hpp"
#include "unitsface/metrics/device/genuine_counts.hpp"
#include "unitsface/metrics/device/roc_points.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"
#include "unitsface/metrics/verification.hpp"

namespace unitsface::metrics::device {

template <thrust_system_policy Policy, class S, class L>
roc_curve compute_roc(const Policy& pol, vector_view<S> scores, vector_view<L> labels,
                      bool drop_intermediate = false) {
  return metrics::compute_roc(roc_points(pol, scores, labels), drop_intermediate);
}

template <thrust_system_policy Policy, class S, class L>
double roc_auc(const Policy& pol, vector_view<S> scores, vector_view<L> labels) {
  return metrics::roc_auc(roc_points(pol, scores, labels));
}

template <thrust_system_policy Policy, class S, class L>
partial_auc_result partial_auc(const Policy& pol, vector_view<S> scores, vector_view<L> labels,
                               double max_far) {
  metrics::detail::require_max_far(max_far);
  return metrics::partial_auc(roc_points(pol, scores, labels), max_far);
}

template <thrust_system_policy Policy, class S, class L>
eer_result equal_error_rate(const Policy& pol, vector_view<S> scores, vector_view<L> labels) {
  return metrics::equal_error_rate(roc_points(pol, scores, labels));
}

template <thrust_system_policy Policy, class S, class L>
std::vector<tar_at_far_result> tar_at_far(const Policy& pol, vector_view<S> scores,
                                          vector_view<L> labels,
                                          const std::vector<double>& far_targets,
                                          far_rule rule = far_rule::at_most) {
  metrics::detail::require_far_targets(far_targets, "far_targets");
  return metrics::tar_at_far(roc_points(pol, scores, labels), far_targets, rule);
}

template <thrust_system_policy Policy, class S, class L>
double threshold_at_far(const Policy& pol, vector_view<S> scores, vector_view<L> labels,
                        double far_target) {
  metrics::detail::require_far_target(far_target, "far_target");
  return metrics::threshold_at_far(roc_points(pol, scores, labels), far_target);
}

/// Which way device::summarize_verification goes (see summary_path_for).
enum class summary_path {
  automatic,  ///< sort_free when the genuine scores are few (summary_path_for), else full_sort
  sort_free,  ///< genuine scores sorted, impostors counted against them, a prefix sorted
  full_sort,  ///< every score sorted (roc_points)
};

/// automatic's rule: the sort-free path when the impostors are at least 64 times the genuine
/// scores (IJB-C 1:1: 800 times). Its histogram and genuine sort then cost a pass over the
/// scores and a sort of under 1/64 of them, against a sort of all of them; with more genuine
/// scores the bins (2 per distinct genuine score, searched per impostor) grow toward the
/// sort's cost. The largest FAR target sets how much of the set it still sorts (the scores
/// down to that FAR, for the nearest and interpolated rules), so with a target near 1 both
/// paths sort everything and the rule changes nothing but the order of the work.
inline summary_path summary_path_for(index_t genuine, index_t impostor) {
  return genuine > 0 && impostor / 64 >= genuine ? summary_path::sort_free
                                                 : summary_path::full_sort;
}

namespace detail {

using metrics::detail::roc_point;

/// One ROC point picked for the sparse walk (i = -1: none).
template <class K>
struct window_point {
  index_t i = -1;
  index_t fp = 0, tp = 0;
  K key = 0;
};

/// Point i of m is kept by drop_intermediate (the first, the last, or a second difference of
/// FP or TP not zero): i, else `none`.
struct kept_index {
  const counts* c;
  index_t m;
  index_t none;
  bool reversed;  // index j stands for point m - 1 - j
  UNITSFACE_HD index_t operator()(index_t j) const {
    const index_t i = reversed ? m - 1 - j : j;
    const bool kept = i == 0 || i + 1 == m || c[i + 1].fp - 2 * c[i].fp + c[i - 1].fp != 0 ||
                      c[i + 1].tp - 2 * c[i].tp + c[i - 1].tp != 0;
    return kept ? i : none;
  }
};

struct max_index {
  UNITSFACE_HD index_t operator()(index_t a, index_t b) const { return a < b ? b : a; }
};
struct min_index {
  UNITSFACE_HD index_t operator()(index_t a, index_t b) const { return a < b ? a : b; }
};

/// For target j (largest FP count F[j] within its FAR), the 8 points that the nearest and
/// interpolated rules read around it, by binary searches on the points:
///   interpolated: the last point with FP <= F (a), the first and last points of the next FP
///     count (e), and the point after e (which closes the target);
///   nearest: the last kept point with FP <= F (L), the first kept point after (U), the last
///     kept point with U's FP count (it wins the tie), and the kept point after it (V, which
///     closes the target).
template <class K>
struct find_windows {
  const counts* c;
  const K* keys;
  const index_t* prev_kept;      // last kept index <= i, -1 if none
  const index_t* next_kept_rev;  // at m - 1 - i: first kept index >= i, m if none
  index_t m;
  const index_t* F;
  window_point<K>* out;
  UNITSFACE_HD index_t upto(index_t x) const {  // points with FP <= x
    index_t lo = 0, hi = m;
    while (lo < hi) {
      const index_t mid = lo + (hi - lo) / 2;
      if (c[mid].fp <= x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  UNITSFACE_HD void put(index_t slot, index_t i) const {
    window_point<K>& w = out[slot];
    if (i < 0 || i >= m) {
      w.i = -1;
      return;
    }
    w.i = i;
    w.fp = c[i].fp;
    w.tp = c[i].tp;
    w.key = keys[i];
  }
  UNITSFACE_HD void operator()(index_t j) const {
    const index_t ia = upto(F[j]) - 1, ef = ia + 1;
    const index_t el = ef < m ? upto(c[ef].fp) - 1 : -1;
    const index_t en = ef < m ? el + 1 : -1;
    const index_t L = ia >= 0 ? prev_kept[ia] : -1;
    const index_t U = ef < m ? next_kept_rev[m - 1 - ef] : m;
    index_t U_last = -1, V = -1;
    if (U < m) {
      U_last = prev_kept[upto(c[U].fp) - 1];
      V = U_last + 1 < m ? next_kept_rev[m - 2 - U_last] : m;
    }
    const index_t slots[8] = {ia, ef, el, en, L, U, U_last, V};
    for (index_t s = 0; s < 8; ++s) put(8 * j + s, slots[s]);
  }
};

/// The largest FP count whose FAR (one double division, as the rules form it) is <= f.
inline index_t largest_fp_within(double f, index_t N) {
  auto within = [&](index_t fp) { return double(fp) / double(N) <= f; };
  index_t fp = index_t(std::clamp(std::floor(f * double(N)), 0.0, double(N)));
  while (fp < N && within(fp + 1)) ++fp;
  while (fp > 0 && !within(fp)) --fp;
  return fp;
}

/// The impostor scores of ranks (a.fp, b.fp] of one ROC segment, for refine_eer_threshold:
/// read back once when the segment has at most 65,536 points, else one search per rank on the
/// system (roc_points::impostor_score_at_rank).
template <class Points>
struct segment_ranks {
  const Points* points;
  std::vector<index_t> fp;  // the segment's points, from the first with FP > a.fp
  std::vector<double> threshold;
  index_t genuine_count() const { return points->genuine_count(); }
  index_t impostor_count() const { return points->impostor_count(); }
  double impostor_score_at_rank(index_t rank) const {
    if (!fp.empty() && rank > fp.front() - 1 && rank <= fp.back()) {
      const auto it = std::lower_bound(fp.begin(), fp.end(), rank);
      return threshold[std::size_t(it - fp.begin())];
    }
    return points->impostor_score_at_rank(rank);
  }
  template <class V>
  void walk(V&&) const {}  // unused: refine_eer_threshold reads ranks only
  template <class V>
  void walk_corners(V&&) const {}
};

/// The summary from the corners (AUC, partial AUC, EER, at most) and from points that cover
/// every FAR target (nearest, interpolated, the EER's ranks): the host rules of
/// verification.hpp, fed the same points as its walks would visit, less those that cannot
/// change a result (see find_windows), so that nothing is walked point by point on the host.
/// `corners`' run ends may have threshold NaN (the sort-free path): their thresholds are read
/// from the points when the EER's segment needs one. Returns false, summarising nothing, when
/// `points` do not reach far enough (built above a floor too high).
template <class Policy, class T>
bool summarize_from(const roc_points<Policy, T>& points, std::vector<roc_point> corners,
                    const verification_options& options, verification_summary& r) {
  using K = typename roc_points<Policy, T>::key_type;
  namespace md = metrics::detail;
  const index_t P = points.genuine_count(), N = points.impostor_count();
  const index_t m = points.size();
  const index_t last_real = points.complete() ? m : m - 1;  // the last point's flag is false
  md::auc_accumulator auc{P, N};
  md::partial_auc_accumulator pauc;
  pauc.P = P;
  pauc.N = N;
  pauc.max_far = options.partial_auc_max_far;
  md::at_most_accumulator at_most{P, N, options.far_targets};
  for (const roc_point& p : corners) {
    auc.push(p);
    pauc.push(p);
    at_most.push(p);
  }
  pauc.finish();
  // The EER: its segment's ends need their thresholds; a run's end is the impostor of its
  // rank.
  auto eer_of = [&] {
    md::eer_accumulator e;
    e.P = P;
    e.N = N;
    for (const roc_point& p : corners) {
      e.push(p);
      if (e.found) break;
    }
    return e;
  };
  md::eer_accumulator eer = eer_of();
  if (eer.found) {
    bool fixed = false;
    for (roc_point& p : corners) {
      if (std::isnan(p.threshold) && (p.fp == eer.seg_begin.fp || p.fp == eer.seg_end.fp) &&
          p.fp <= eer.seg_end.fp) {
        p.threshold = points.impostor_score_at_rank(p.fp);
        fixed = true;
      }
    }
    if (fixed) eer = eer_of();
    const roc_point a = eer.seg_begin, b = eer.seg_end;
    if (a.tp == b.tp && b.fp - a.fp >= 2) {
      segment_ranks<roc_points<Policy, T>> seg{&points, {}, {}};
      const auto fp = thrust::make_transform_iterator(points.cumulative_counts(), fp_of{});
      const index_t lo =
          index_t(thrust::lower_bound(sync_exec(points.policy()), fp, fp + m, a.fp + 1) - fp);
      const index_t hi =
          index_t(thrust::lower_bound(sync_exec(points.policy()), fp, fp + m, b.fp) - fp);
      if (hi >= last_real) return false;
      if (hi - lo < (index_t(1) << 16)) {
        const index_t len = hi - lo + 1;
        std::vector<K> hk(std::size_t(len), K{});
        std::vector<counts> hc{std::size_t(len), counts{}};
        backends::copy_to_host(points.policy(), points.keys() + lo, len, hk.data());
        backends::copy_to_host(points.policy(), points.cumulative_counts() + lo, len, hc.data());
        for (index_t i = 0; i < len; ++i) {
          seg.fp.push_back(hc[std::size_t(i)].fp);
          seg.threshold.push_back(threshold_of<T>(hk[std::size_t(i)]));
        }
      }
      md::refine_eer_threshold(seg, eer);
    }
  }

  // Nearest and interpolated: the points around each target, found on the system.
  const std::size_t nt = options.far_targets.size();
  std::vector<index_t> F(nt);
  for (std::size_t j = 0; j < nt; ++j) F[j] = largest_fp_within(options.far_targets[j], N);
  md::nearest_accumulator nearest{P, N, options.far_targets};
  md::interpolated_accumulator interp{P, N, options.far_targets};
  if (m > 0) {
    const Policy& pol = points.policy();
    auto prev = backends::make_buffer<index_t>(pol, m);
    auto next_rev = backends::make_buffer<index_t>(pol, m);
    auto targets = backends::make_buffer<index_t>(pol, index_t(nt));
    auto found = backends::make_buffer<window_point<K>>(pol, 8 * index_t(nt));
    const thrust::counting_iterator<index_t> first(0);
    const counts* c = points.cumulative_counts();
    thrust::inclusive_scan(exec(pol),
                           thrust::make_transform_iterator(first, kept_index{c, m, -1, false}),
                           thrust::make_transform_iterator(first + m, kept_index{c, m, -1, false}),
                           backends::data_ptr(prev), max_index{});
    thrust::inclusive_scan(exec(pol),
                           thrust::make_transform_iterator(first, kept_index{c, m, m, true}),
                           thrust::make_transform_iterator(first + m, kept_index{c, m, m, true}),
                           backends::data_ptr(next_rev), min_index{});
    backends::copy_from_host(pol, F.data(), index_t(nt), backends::data_ptr(targets));
    backends::for_each_index(
        pol, index_t(nt),
        find_windows<K>{c, points.keys(), backends::data_ptr(prev), backends::data_ptr(next_rev), m,
                        backends::data_ptr(targets), backends::data_ptr(found)});
    std::vector<window_point<K>> w(8 * nt);
    backends::copy_to_host(pol, backends::data_ptr(found), 8 * index_t(nt), w.data());
    // The interpolated rule's points (slots 0-3) and the nearest rule's (4-7), each in walk
    // order, once.
    auto sequence = [&](int from) {
      std::vector<window_point<K>> seq;
      for (std::size_t j = 0; j < nt; ++j)
        for (int s = from; s < from + 4; ++s)
          if (w[8 * j + std::size_t(s)].i >= 0) seq.push_back(w[8 * j + std::size_t(s)]);
      std::sort(seq.begin(), seq.end(), [](const auto& a, const auto& b) { return a.i < b.i; });
      seq.erase(std::unique(seq.begin(), seq.end(),
                            [](const auto& a, const auto& b) { return a.i == b.i; }),
                seq.end());
      return seq;
    };
    const auto seq_interp = sequence(0), seq_nearest = sequence(4);
    if (!points.complete()) {
      for (const auto* seq : {&seq_interp, &seq_nearest})
        if (!seq->empty() && seq->back().i >= last_real) return false;
    }
    // A named threshold first: nvcc misreads a template call inside a braced list here.
    for (const auto& p : seq_interp) {
      const double t = threshold_of<T>(p.key);
      interp.push(roc_point{p.fp, p.tp, t});
    }
    for (const auto& p : seq_nearest) {
      const double t = threshold_of<T>(p.key);
      nearest.push(roc_point{p.fp, p.tp, t});
    }
  }
  interp.finish();
  r = md::summary_of(P, N, auc, pauc, eer, at_most, nearest, interp);
  return true;
}

/// The floor for the sort-free path's points: a genuine value some way below the largest FP
/// count that a rule reads (three more genuine values that add impostors), so that the points
/// the rules read there have their true neighbours; -inf (every score) when there is none.
inline double prefix_floor(const std::vector<roc_point>& corners, index_t need_fp) {
  int more = 0;
  index_t fp_seen = -1;
  for (std::size_t i = 0; i < corners.size(); ++i) {
    const roc_point& p = corners[i];
    if (std::isnan(p.threshold) || p.fp <= need_fp) continue;
    if (p.fp > fp_seen) {
      fp_seen = p.fp;
      if (++more == 4) return p.threshold;
    }
  }
  return -std::numeric_limits<double>::infinity();
}

}  // namespace detail

/// Every summary metric of verification.hpp (AUC, partial AUC, EER, the three TAR-at-FAR rules),
/// equal to the host's. Two ways (`path`; automatic: summary_path_for):
///  - full_sort: roc_points (every score sorted on the system), its corners compacted and
///    read back, then the points the rules need found by binary searches there;
///  - sort_free: only the genuine scores sorted, every impostor counted against them
///    (genuine_counts.hpp: the corners, read back in one copy), then roc_points of only the
///    scores down to a floor just below the largest FAR target (and the EER), for the nearest
///    and interpolated rules and the EER's thresholds.
/// Either way nothing is walked point by point on the host: the nearest and interpolated
/// rules get the few points around each target (detail::find_windows), the EER's ranks one
/// read-back of its segment.
template <thrust_system_policy Policy, class S, class L>
verification_summary summarize_verification(const Policy& pol, vector_view<S> scores,
                                            vector_view<L> labels,
                                            const verification_options& options = {},
                                            summary_path path = summary_path::automatic) {
  metrics::detail::require_far_targets(options.far_targets, "far_targets");
  metrics::detail::require_max_far(options.partial_auc_max_far);
  using T = std::remove_const_t<S>;
  using label_type = std::remove_const_t<L>;
  const index_t n = scores.size();
  const vector_view<const T> s(scores.data, n, scores.stride);
  const vector_view<const label_type> l(labels.data, labels.size(), labels.stride);
  verification_summary r;
  auto full = [&] {
    const roc_points<Policy, T> points(pol, s, l);
    std::vector<detail::roc_point> corners;
    points.walk_corners([&](index_t fp, index_t tp, double t) { corners.push_back({fp, tp, t}); });
    detail::summarize_from(points, std::move(corners), options, r);
    return r;
  };
  if (path == summary_path::full_sort) return full();
  const index_t genuine = detail::validate_scores(pol, s, l);
  if (path == summary_path::automatic &&
      summary_path_for(genuine, n - genuine) == summary_path::full_sort) {
    return full();
  }
  const auto counts = count_against_genuine(pol, s, l, genuine);
  std::vector<detail::roc_point> corners;
  counts.walk_corners([&](index_t fp, index_t tp, double t, index_t) {
    corners.push_back({fp, tp, t});
  });
  // The largest FP count a rule reads: the largest target's, and the EER segment's end.
  index_t need = 0;
  for (double f : options.far_targets)
    need = std::max(need, detail::largest_fp_within(f, n - genuine));
  {
    metrics::detail::eer_accumulator e;
    e.P = genuine;
    e.N = n - genuine;
    for (const detail::roc_point& p : corners) {
      e.push(p);
      if (e.found) break;
    }
    if (e.found) need = std::max(need, e.seg_end.fp);
  }
  const double floor = detail::prefix_floor(corners, need);
  {
    const roc_points<Policy, T> points(pol, s, l, floor, detail::validated_scores{genuine});
    if (detail::summarize_from(points, corners, options, r)) return r;
  }
  // The floor was too high for the points a rule read (not expected: prefix_floor leaves a
  // margin): every score.
  const roc_points<Policy, T> points(pol, s, l, -std::numeric_limits<double>::infinity(),
                                     detail::validated_scores{genuine});
  detail::summarize_from(points, std::move(corners), options, r);
  return r;
}

namespace detail {

/// The largest key of a reduction (run_key): Acc(0), key 0, is its identity, no finite
/// score's key being 0 (descending_key).
template <class K>
struct max_key {
  K key = 0;
  max_key() = default;
  UNITSFACE_HD explicit max_key(int) {}
  UNITSFACE_HD static max_key of(K k) {
    max_key m;
    m.key = k;
    return m;
  }
  UNITSFACE_HD max_key& operator+=(const max_key& o) {
    key = o.key > key ? o.key : key;
    return *this;
  }
  UNITSFACE_HD friend max_key operator+(max_key a, const max_key& b) { return a += b; }
};

/// Score i's key where it is an impostor of the run strictly between the genuine keys lo and
/// hi (ascending keys: descending scores; no bound where has_lo / has_hi is false), else 0:
/// the largest over all scores is the run's lowest score.
template <class T, class L, class K>
struct run_key {
  vector_view<const T> scores;
  vector_view<const L> labels;
  K lo, hi;
  bool has_lo, has_hi;
  UNITSFACE_HD max_key<K> operator()(index_t i) const {
    if (labels[i] == L(1)) return max_key<K>(0);
    const K key = descending_key(scores[i]);
    const bool in = (!has_lo || key > lo) && (!has_hi || key < hi);
    return max_key<K>::of(in ? key : K(0));
  }
};

/// The corners of genuine_counts with every threshold a summary of corners reads: a run's end
/// gets its lowest score where the EER's segment ends there (one reduction per such run, at
/// most two), a source for metrics::summarize_corners.
struct corner_list {
  index_t P = 0, N = 0;
  std::vector<roc_point> points;
  index_t genuine_count() const { return P; }
  index_t impostor_count() const { return N; }
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    for (const roc_point& p : points) visit(p.fp, p.tp, p.threshold);
  }
};

}  // namespace detail

/// AUC, EER and the at-most TAR at FAR targets from the corners of the ROC alone, equal to
/// metrics::summarize_corners of the same scores on the host (genuine_buckets, sorted_scores):
/// the scores validated (one reduction), only the genuine ones sorted and every impostor
/// counted against them (genuine_counts.hpp, one read-back), and, where the EER's segment ends
/// at an impostor run, that run's lowest score found by one more reduction. Nothing else of
/// the impostors is sorted or read back: the nearest and interpolated rules and the partial
/// AUC, which read impostor thresholds, are summarize_verification's. Throws as
/// summarize_verification does (far_targets outside (0, 1], bad scores or labels).
template <thrust_system_policy Policy, class S, class L>
corner_summary summarize_corners(const Policy& pol, vector_view<S> scores, vector_view<L> labels,
                                 const std::vector<double>& far_targets = standard_far_targets()) {
  metrics::detail::require_far_targets(far_targets, "far_targets");
  using T = std::remove_const_t<S>;
  using label_type = std::remove_const_t<L>;
  using K = detail::score_key_t<T>;
  const index_t n = scores.size();
  const vector_view<const T> s(scores.data, n, scores.stride);
  const vector_view<const label_type> l(labels.data, labels.size(), labels.stride);
  const index_t genuine = detail::validate_scores(pol, s, l);
  const auto counts = count_against_genuine(pol, s, l, genuine);
  detail::corner_list list{genuine, n - genuine, {}};
  std::vector<index_t> runs;  // per corner: its run (>= 0) or -1 (a genuine value's)
  counts.walk_corners([&](index_t fp, index_t tp, double t, index_t run) {
    list.points.push_back({fp, tp, t});
    runs.push_back(run);
  });
  // The EER's segment: the corner where it ends and the one before (the walk's start, not a
  // corner, when it ends at the first).
  metrics::detail::eer_accumulator e;
  e.P = list.P;
  e.N = list.N;
  std::size_t end = 0;
  while (end < list.points.size()) {
    e.push(list.points[end]);
    if (e.found) break;
    ++end;
  }
  const auto K_values = index_t(counts.values.size());
  for (std::size_t c = end == 0 ? 0 : end - 1; c <= end && c < list.points.size(); ++c) {
    const index_t run = runs[c];
    if (run < 0 || (c + 1 == end && !e.reads_begin_threshold())) continue;
    detail::run_key<T, label_type, K> f{s, l, K(0), K(0), run > 0, run < K_values};
    if (f.has_lo) f.lo = detail::descending_key(T(counts.values[std::size_t(run - 1)]));
    if (f.has_hi) f.hi = detail::descending_key(T(counts.values[std::size_t(run)]));
    const auto lowest = backends::reduce_index<detail::max_key<K>>(pol, n, f);
    list.points[c].threshold = detail::threshold_of<T>(lowest.key);
  }
  return metrics::summarize_corners(list, far_targets);
}

}  // namespace unitsface::metrics::device
