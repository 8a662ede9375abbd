// unitsface metrics on a Thrust system: the ROC points of a verification set computed where
// its scores live (thrust_cpp, thrust_omp or the CUDA policy), read by the host metrics.
//
// A ROC curve is the list of (FP, TP) counts at each distinct score, from the highest down.
// On a Thrust system that is four data-parallel steps over n = P + N scores:
//   1. validate and count the genuine pairs (one reduction that also finds the first bad
//      element, so the error names the same index as the host path);
//   2. sort (key, genuine flag) pairs by key, where the key is the score's order-preserving
//      integer inverted, so that ascending key order is descending score order (Thrust's
//      radix sort on unsigned keys; -0.0 and +0.0 share one key);
//   3. reduce_by_key over runs of equal keys: one (impostor, genuine) count per distinct
//      score, i.e. ties collapse into one ROC point;
//   4. inclusive_scan of those counts: the cumulative (FP, TP) of every ROC point.
// Every step is integer arithmetic, so the points are the host path's points exactly, on any
// system and thread count.
//
// The metric rules (AUC, partial AUC, EER, the three TAR@FAR rules, the curve itself) are
// not written twice: roc_points satisfies metrics::roc_source, so the host functions of
// roc.hpp, eer.hpp, tar_at_far.hpp and verification.hpp run on it unchanged. They read back
// only what they visit: walk_corners() compacts the corners of the curve on the system first
// (at most 2P + 1 points, copy_if) and copies those; walk() copies the points in growing
// chunks and stops with its visitor, so the nearest and interpolated rules read the curve
// only up to their largest FAR target; impostor_score_at_rank() is one binary search there.
//
// Memory on the system: 4 (float) or 8 (double) key bytes and 1 flag byte per score while
// sorting, plus a key and 16 count bytes per distinct score for the points (about 25 bytes
// per float score at peak). Compile with the host compiler for the CPU systems (THRUST_*
// from backends/thrust.hpp), with nvcc (and backends/cuda.hpp) for CUDA.
#pragma once

#include <thrust/binary_search.h>
#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/backends/thrust.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/sorted_scores.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics::device {

/// A Thrust policy of backends/thrust.hpp or backends/cuda.hpp (thrust_cpp_policy,
/// thrust_omp_policy, cuda_policy).
template <class P>
concept thrust_system_policy = requires(const P& p) {
  typename P::system;
  P::traits::exec(p.state);
  P::traits::reduce_exec(p.state);
};

namespace detail {

using unitsface::metrics::detail::score_key_t;

/// Cumulative (or per-score) impostor and genuine counts of a ROC point.
struct counts {
  index_t fp = 0;
  index_t tp = 0;
};

struct add_counts {
  UNITSFACE_HD counts operator()(const counts& a, const counts& b) const {
    return counts{a.fp + b.fp, a.tp + b.tp};
  }
};

struct flag_to_counts {
  UNITSFACE_HD counts operator()(std::uint8_t genuine) const {
    return counts{index_t(1 - genuine), index_t(genuine)};
  }
};

struct fp_of {
  UNITSFACE_HD index_t operator()(const counts& c) const { return c.fp; }
};

/// The order-preserving key of sorted_scores (metrics::detail::score_to_key), inverted so
/// that ascending keys are descending scores. Written with memcpy rather than std::bit_cast
/// so that nvcc compiles it for the device too.
template <class T>
UNITSFACE_HD score_key_t<T> descending_key(T x) {
  using K = score_key_t<T>;
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  if (x == T(0)) x = T(0);  // -0.0 and +0.0 form one ROC point
  K b;
  std::memcpy(&b, &x, sizeof b);
  return (b & sign) ? K(b) : K(~K(b | sign));  // ~(~b) for negatives, ~(b | sign) otherwise
}

template <class T>
double threshold_of(score_key_t<T> descending) {
  return static_cast<double>(
      unitsface::metrics::detail::key_to_score<T>(score_key_t<T>(~descending)));
}

/// Sum of the genuine labels and the first index of a bad element (non-finite score, label
/// other than 0/1). Acc(0) is the identity: thrust_policy's reductions start from it.
struct validation_sum {
  index_t genuine = 0;
  index_t first_bad = std::numeric_limits<index_t>::max();
  validation_sum() = default;
  UNITSFACE_HD explicit validation_sum(int) {}
  UNITSFACE_HD validation_sum(index_t g, index_t bad) : genuine(g), first_bad(bad) {}
  UNITSFACE_HD validation_sum& operator+=(const validation_sum& o) {
    genuine += o.genuine;
    first_bad = o.first_bad < first_bad ? o.first_bad : first_bad;
    return *this;
  }
  UNITSFACE_HD friend validation_sum operator+(validation_sum a, const validation_sum& b) {
    return a += b;
  }
};

template <class T, class L>
struct validate_element {
  vector_view<const T> scores;  // views, so that strided inputs work as on the host
  vector_view<const L> labels;
  UNITSFACE_HD validation_sum operator()(index_t i) const {
    const T s = scores[i];
    const L l = labels[i];
    const bool genuine = l == L(1);
    // s - s is 0 for a finite score and NaN for NaN and +-inf (no std::isfinite on devices).
    const bool bad = !(s - s == T(0)) || (!genuine && !(l == L(0)));
    return validation_sum(index_t(genuine), bad ? i : std::numeric_limits<index_t>::max());
  }
};

template <class T, class L, class K>
struct make_keys {
  vector_view<const T> scores;
  vector_view<const L> labels;
  K* keys;
  std::uint8_t* genuine;
  UNITSFACE_HD void operator()(index_t i) const {
    keys[i] = descending_key(scores[i]);
    genuine[i] = labels[i] == L(1) ? 1 : 0;
  }
};

/// Point i is a corner of the curve (sorted_scores::walk_corners' points): TP rises at i,
/// TP rises at i + 1 (i ends a run of impostor-only points), or i is the last point.
struct is_corner {
  const counts* c;
  index_t m;
  UNITSFACE_HD bool operator()(index_t i) const {
    const index_t tp_before = i == 0 ? 0 : c[i - 1].tp;
    return c[i].tp != tp_before || i + 1 == m || c[i + 1].tp != c[i].tp;
  }
};

/// Keeps the keys at most `top` (the scores at least a floor).
template <class K>
struct key_at_most {
  K top;
  UNITSFACE_HD bool operator()(K k) const { return k <= top; }
};

/// The lowest T at least `floor` (a floor above every T: the highest T, which then keeps at
/// most the scores equal to it; the callers' floors are scores of the set).
template <class T>
T floor_score(double floor) {
  if (!(floor > double(std::numeric_limits<T>::lowest()))) return std::numeric_limits<T>::lowest();
  if (floor >= double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  T t = T(floor);
  if (double(t) < floor) t = std::nextafter(t, std::numeric_limits<T>::infinity());
  return t;
}

template <class Policy>
auto exec(const Policy& pol) {
  return Policy::traits::exec(pol.state);
}
/// The synchronising policy: for algorithms whose result (an end, a count) is read back.
template <class Policy>
auto sync_exec(const Policy& pol) {
  return Policy::traits::reduce_exec(pol.state);
}

/// Checks scores and labels as sorted_scores does (a length mismatch, an empty set or a
/// missing class: "labels"; a label other than 0/1: "labels"; a non-finite score: "scores",
/// the first bad element by index named) with one reduction on the system, and returns the
/// number of genuine scores.
template <class Policy, class T, class L>
index_t validate_scores(const Policy& pol, vector_view<const T> s, vector_view<const L> l) {
  const index_t n = s.size();
  metrics::detail::require_size("labels", l.size(), n);
  const auto check = backends::reduce_index<validation_sum>(pol, n, validate_element<T, L>{s, l});
  if (n > 0 && check.first_bad < n) {
    // Only on error: read the one bad element back and let the host checks word it.
    const index_t i = check.first_bad;
    T bad_score{};
    L bad_label{};
    backends::copy_to_host(pol, &s[i], 1, &bad_score);
    backends::copy_to_host(pol, &l[i], 1, &bad_label);
    metrics::detail::require_finite_score(bad_score, i, "scores");
    metrics::detail::genuine_label(bad_label, i, "labels");
  }
  const index_t genuine = n > 0 ? check.genuine : 0;
  metrics::detail::require_both_classes(genuine, n - genuine, "labels");
  return genuine;
}

/// The genuine count of scores already validated by validate_scores (the sort-free summary
/// validates them first, to choose its path): the floor constructor then does not scan them
/// again. -1: not validated.
struct validated_scores {
  index_t genuine = -1;
};

}  // namespace detail

/// The ROC points of a verification set, computed on the system of `Policy` from scores and
/// labels in that system's memory. A metrics::roc_source: pass it to compute_roc, roc_auc,
/// partial_auc, equal_error_rate, tar_at_far, threshold_at_far, summarize_verification.
template <thrust_system_policy Policy, class T>
class roc_points {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "scores must be float or double");

 public:
  using score_type = T;
  using key_type = detail::score_key_t<T>;
  using counts = detail::counts;

  /// Scores and labels (1 = genuine, 0 = impostor) of the same length, in the policy's
  /// memory. Throws unitsface::invalid_argument exactly as sorted_scores does: a length
  /// mismatch, an empty set or a missing class ("labels"), a label other than 0/1 ("labels")
  /// and a non-finite score ("scores"), the first bad element by index named.
  template <class S, class L>
  roc_points(const Policy& pol, vector_view<S> scores, vector_view<L> labels)
      : roc_points(pol, scores, labels, -std::numeric_limits<double>::infinity()) {}

  /// The points of the scores >= `floor` only (the highest part of the curve: its points,
  /// cumulative counts and thresholds are those of the whole set, genuine_count() and
  /// impostor_count() count the whole set), so a summary that needs every point only down to
  /// some FAR sorts only the scores above it (device::summarize_verification's sort-free
  /// path). complete() tells whether the points reach the lowest score.
  template <class S, class L>
  roc_points(const Policy& pol, vector_view<S> scores, vector_view<L> labels, double floor,
             detail::validated_scores validated = {})
      : pol_(pol),
        keys_(backends::make_buffer<key_type>(pol, 0)),
        counts_(backends::make_buffer<counts>(pol, 0)) {
    static_assert(std::is_same_v<std::remove_const_t<S>, T>, "score type mismatch");
    using label_type = std::remove_const_t<L>;
    const index_t n = scores.size();
    const vector_view<const T> s(scores.data, n, scores.stride);
    const vector_view<const label_type> l(labels.data, labels.size(), labels.stride);
    genuine_ = validated.genuine >= 0 ? validated.genuine : detail::validate_scores(pol, s, l);
    impostor_ = n - genuine_;

    // Written before they are read, so not zero-filled: with the two below, 5 n bytes each
    // in float (156 MB at IJB-C size).
    auto keys = backends::make_uninitialized_scratch<key_type>(pol, n);
    auto flags = backends::make_uninitialized_scratch<std::uint8_t>(pol, n);
    key_type* k = backends::data_ptr(keys);
    std::uint8_t* g = backends::data_ptr(flags);
    backends::for_each_index(pol, n, detail::make_keys<T, label_type, key_type>{s, l, k, g});
    index_t m = n;
    complete_ = !(floor > -std::numeric_limits<double>::infinity());
    if (!complete_) {
      // Only the scores >= floor (keys <= the floor's key) are sorted: compacted first.
      const key_type top = detail::descending_key(detail::floor_score<T>(floor));
      auto kept = backends::make_uninitialized_scratch<key_type>(pol, n);
      auto kept_flags = backends::make_uninitialized_scratch<std::uint8_t>(pol, n);
      const auto end = thrust::copy_if(
          detail::sync_exec(pol), thrust::make_zip_iterator(k, g),
          thrust::make_zip_iterator(k + n, g + n), k,
          thrust::make_zip_iterator(backends::data_ptr(kept), backends::data_ptr(kept_flags)),
          detail::key_at_most<key_type>{top});
      m = index_t(thrust::get<0>(end.get_iterator_tuple()) - backends::data_ptr(kept));
      keys = std::move(kept);
      flags = std::move(kept_flags);
      k = backends::data_ptr(keys);
      g = backends::data_ptr(flags);
      complete_ = m == n;
    }
    thrust::sort_by_key(detail::exec(pol), k, k + m, g);

    // One point per distinct score (at most m), then cumulative counts in place.
    keys_ = backends::make_buffer<key_type>(pol, m);
    counts_ = backends::make_buffer<counts>(pol, m);
    key_type* pk = backends::data_ptr(keys_);
    counts* pc = backends::data_ptr(counts_);
    if (m == 0) return;
    const auto ends =
        thrust::reduce_by_key(detail::sync_exec(pol), k, k + m,
                              thrust::make_transform_iterator(g, detail::flag_to_counts{}), pk, pc,
                              thrust::equal_to<key_type>(), detail::add_counts{});
    size_ = index_t(ends.first - pk);
    thrust::inclusive_scan(detail::exec(pol), pc, pc + size_, pc, detail::add_counts{});
  }

  roc_points(const roc_points&) = delete;
  roc_points& operator=(const roc_points&) = delete;

  index_t genuine_count() const { return genuine_; }
  index_t impostor_count() const { return impostor_; }
  /// The number of distinct scores (ROC points after the (0, 0, +inf) one).
  index_t size() const { return size_; }
  /// Whether the points reach the lowest score (false: built above a floor that left scores
  /// out).
  bool complete() const { return complete_; }
  const Policy& policy() const { return pol_; }
  /// The points in the policy's memory: inverted keys (detail::descending_key) and
  /// cumulative counts, size() of each.
  const key_type* keys() const { return backends::data_ptr(keys_); }
  const counts* cumulative_counts() const { return backends::data_ptr(counts_); }

  /// As sorted_scores::walk: visit(fp, tp, threshold) for every distinct score from the
  /// highest down; a visitor returning bool stops the walk with false. The points are copied
  /// to the host in chunks that double from 4096 (to 1 Mi points), so an early stop copies
  /// little more than it visits.
  template <class Visit>
  void walk(Visit&& visit) const {
    index_t chunk = index_t(1) << 12;
    std::vector<key_type> hk;
    std::vector<counts> hc;
    for (index_t at = 0; at < size_; at += chunk, chunk = std::min(chunk * 2, index_t(1) << 20)) {
      const index_t len = std::min(chunk, size_ - at);
      hk.resize(std::size_t(len));
      hc.resize(std::size_t(len));
      backends::copy_to_host(pol_, keys() + at, len, hk.data());
      backends::copy_to_host(pol_, cumulative_counts() + at, len, hc.data());
      for (index_t i = 0; i < len; ++i) {
        const double t = detail::threshold_of<T>(hk[std::size_t(i)]);
        const counts& c = hc[std::size_t(i)];
        if constexpr (std::is_same_v<decltype(visit(c.fp, c.tp, t)), bool>) {
          if (!visit(c.fp, c.tp, t)) return;
        } else {
          visit(c.fp, c.tp, t);
        }
      }
    }
  }

  /// As sorted_scores::walk_corners: the corners are selected on the system (copy_if) and
  /// only they are copied back.
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    const detail::is_corner corner{cumulative_counts(), size_};
    const thrust::counting_iterator<index_t> first(0);
    const index_t c =
        index_t(thrust::count_if(detail::sync_exec(pol_), first, first + size_, corner));
    auto ck = backends::make_buffer<key_type>(pol_, c);
    auto cc = backends::make_buffer<counts>(pol_, c);
    thrust::copy_if(detail::sync_exec(pol_), thrust::make_zip_iterator(keys(), cumulative_counts()),
                    thrust::make_zip_iterator(keys() + size_, cumulative_counts() + size_), first,
                    thrust::make_zip_iterator(backends::data_ptr(ck), backends::data_ptr(cc)),
                    corner);
    std::vector<key_type> hk(static_cast<std::size_t>(c));
    std::vector<counts> hc(static_cast<std::size_t>(c));
    backends::copy_to_host(pol_, backends::data_ptr(ck), c, hk.data());
    backends::copy_to_host(pol_, backends::data_ptr(cc), c, hc.data());
    for (std::size_t i = 0; i < hk.size(); ++i) {
      visit(hc[i].fp, hc[i].tp, detail::threshold_of<T>(hk[i]));
    }
  }

  /// The impostor score of rank `rank` in [1, impostor_count()] (1 = highest): the
  /// threshold of the first point whose cumulative FP reaches `rank` (a binary search on the
  /// system, one key read back).
  double impostor_score_at_rank(index_t rank) const {
    const auto fp = thrust::make_transform_iterator(cumulative_counts(), detail::fp_of{});
    const auto it = thrust::lower_bound(detail::sync_exec(pol_), fp, fp + size_, rank);
    const index_t i = std::min<index_t>(index_t(it - fp), size_ - 1);
    key_type k{};
    backends::copy_to_host(pol_, keys() + i, 1, &k);
    return detail::threshold_of<T>(k);
  }

 private:
  using key_buffer = decltype(backends::make_buffer<key_type>(std::declval<const Policy&>(), 0));
  using counts_buffer = decltype(backends::make_buffer<counts>(std::declval<const Policy&>(), 0));

  Policy pol_;
  key_buffer keys_;
  counts_buffer counts_;
  index_t genuine_ = 0;
  index_t impostor_ = 0;
  index_t size_ = 0;
  bool complete_ = true;
};

template <class Policy, class S, class L>
roc_points(const Policy&, vector_view<S>, vector_view<L>)
    -> roc_points<Policy, std::remove_const_t<S>>;

}  // namespace unitsface::metrics::device
