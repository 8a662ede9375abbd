// unitsface metrics: ROC curve (scikit-learn's roc_curve semantics), AUC and partial AUC.
//
// Conventions (scikit-learn 1.2 `roc_curve`, `roc_auc_score`): a pair is accepted when its
// score >= the threshold; one ROC point per distinct score, thresholds descending, tied scores
// in one point; a first point (0, 0) at threshold +inf; drop_intermediate removes the points
// whose FP and TP second differences are both zero (collinear, evenly spaced), as
// scikit-learn does, before the first point is prepended.
//
// AUC and partial AUC are computed while walking the sorted scores: the full curve is never
// stored (it is only built by roc_curve(), on request).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/sorted_scores.hpp"

namespace unitsface::metrics {

/// A ROC curve: parallel arrays, thresholds descending, thresholds[0] = +inf.
struct roc_curve {
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;
  std::size_t size() const { return fpr.size(); }
};

struct partial_auc_result {
  double max_far = 0;
  double raw = 0;      ///< area under the ROC from FAR 0 to max_far
  double mcclish = 0;  ///< McClish-standardised, as roc_auc_score(max_fpr=max_far)
};

namespace detail {

// Exact integer accumulation of areas: 2 * area in units of (pairs x pairs) reaches 2*P*N,
// beyond int64 for the largest sets, so a 128-bit integer is used.
__extension__ typedef unsigned __int128 uint128_t;
__extension__ typedef __int128 int128_t;

/// A ROC point in counts; fpr = fp / N and tpr = tp / P are formed exactly as scikit-learn
/// forms them (one double division), so comparisons with targets agree bit for bit.
struct roc_point {
  index_t fp = 0;
  index_t tp = 0;
  double threshold = std::numeric_limits<double>::infinity();
};

/// Streaming drop_intermediate: point i (not first, not last) is kept when
/// fp[i+1] - 2 fp[i] + fp[i-1] != 0 or the same for tp. Needs one point of look-ahead, so the
/// decision on a point is made when the next arrives and the last one at finish().
template <class Emit>
struct drop_intermediate_filter {
  explicit drop_intermediate_filter(Emit e) : emit(e) {}
  Emit emit;
  roc_point a, b;
  index_t seen = 0;
  void push(const roc_point& c) {
    if (seen == 0) {
      emit(c);
      a = c;
    } else if (seen == 1) {
      b = c;
    } else {
      if (c.fp - 2 * b.fp + a.fp != 0 || c.tp - 2 * b.tp + a.tp != 0) emit(b);
      a = b;
      b = c;
    }
    ++seen;
  }
  void finish() {
    if (seen >= 2) emit(b);
  }
};

/// Area under the whole ROC: sum over genuine scores of (#impostors below + half the tied
/// impostors), the trapezoidal area of the curve, accumulated exactly in integers.
struct auc_accumulator {
  index_t P = 0, N = 0;
  index_t prev_fp = 0, prev_tp = 0;
  uint128_t area2 = 0;  // 2 * area in pair units
  void push(const roc_point& p) {
    const index_t dtp = p.tp - prev_tp;
    if (dtp != 0) {
      const index_t dfp = p.fp - prev_fp;
      area2 += uint128_t(dtp) * uint128_t(2 * (N - p.fp) + dfp);
    }
    prev_fp = p.fp;
    prev_tp = p.tp;
  }
  double value() const {
    return static_cast<double>(area2) / (2.0 * static_cast<double>(P) * static_cast<double>(N));
  }
};

/// Area from FAR 0 to max_far, as scikit-learn computes it: full trapezoids up to the last
/// point with fpr <= max_far, then the segment to the next point interpolated at max_far.
struct partial_auc_accumulator {
  index_t P = 0, N = 0;
  double max_far = 0.1;
  roc_point prev;  // (0, 0) at start
  uint128_t area2 = 0;
  bool done = false;
  double raw = 0;
  void push(const roc_point& p) {
    if (done) return;
    const double x1 = double(p.fp) / double(N);
    if (x1 <= max_far) {
      area2 += uint128_t(p.fp - prev.fp) * uint128_t(p.tp + prev.tp);
      prev = p;
      return;
    }
    const double x0 = double(prev.fp) / double(N);
    const double y0 = double(prev.tp) / double(P);
    const double y1 = double(p.tp) / double(P);
    const double slope = (y1 - y0) / (x1 - x0);
    const double ym = slope * (max_far - x0) + y0;
    raw = static_cast<double>(area2) / (2.0 * double(P) * double(N)) +
          (max_far - x0) * (y0 + ym) / 2.0;
    done = true;
  }
  void finish() {
    // Reached only when max_far >= the last fpr, i.e. max_far == 1: the whole area.
    if (!done) raw = static_cast<double>(area2) / (2.0 * double(P) * double(N));
    done = true;
  }
  partial_auc_result result() const {
    partial_auc_result r;
    r.max_far = max_far;
    r.raw = raw;
    const double min_area = 0.5 * max_far * max_far;
    const double max_area = max_far;
    r.mcclish = 0.5 * (1.0 + (raw - min_area) / (max_area - min_area));
    return r;
  }
};

inline void require_max_far(double max_far) {
  if (!(max_far > 0.0 && max_far <= 1.0)) {
    throw invalid_argument("max_far", "must lie in (0, 1], got " + std::to_string(max_far));
  }
}

}  // namespace detail

/// The full ROC curve (optionally with drop_intermediate). O(number of distinct scores)
/// memory: this is the one verification output that stores the curve.
template <roc_source Src>
roc_curve compute_roc(const Src& s, bool drop_intermediate = false) {
  const double P = double(s.genuine_count()), N = double(s.impostor_count());
  roc_curve r;
  auto append = [&](const detail::roc_point& p) {
    r.fpr.push_back(double(p.fp) / N);
    r.tpr.push_back(double(p.tp) / P);
    r.thresholds.push_back(p.threshold);
  };
  append(detail::roc_point{});
  if (drop_intermediate) {
    detail::drop_intermediate_filter<decltype(append)&> f{append};
    s.walk([&](index_t fp, index_t tp, double t) { f.push({fp, tp, t}); });
    f.finish();
  } else {
    s.walk([&](index_t fp, index_t tp, double t) { append({fp, tp, t}); });
  }
  return r;
}

template <class S, class L>
roc_curve compute_roc(vector_view<S> scores, vector_view<L> labels,
                      bool drop_intermediate = false) {
  return compute_roc(sorted_scores<std::remove_const_t<S>>(scores, labels), drop_intermediate);
}

/// Trapezoidal area under a given curve (fpr non-decreasing), as sklearn.metrics.auc.
inline double auc(const roc_curve& c) {
  detail::require(c.fpr.size() == c.tpr.size() && c.fpr.size() >= 2, "curve",
                  "needs at least two points and as many tpr as fpr values");
  double a = 0;
  for (std::size_t i = 1; i < c.fpr.size(); ++i) {
    detail::require(c.fpr[i] >= c.fpr[i - 1], "curve", "fpr must be non-decreasing");
    a += (c.fpr[i] - c.fpr[i - 1]) * (c.tpr[i] + c.tpr[i - 1]) / 2.0;
  }
  return a;
}

/// AUC of the whole ROC (roc_auc_score), without storing the curve.
template <roc_source Src>
double roc_auc(const Src& s) {
  detail::auc_accumulator acc{s.genuine_count(), s.impostor_count()};
  s.walk_corners([&](index_t fp, index_t tp, double t) { acc.push({fp, tp, t}); });
  return acc.value();
}

template <class S, class L>
double roc_auc(vector_view<S> scores, vector_view<L> labels) {
  return roc_auc(sorted_scores<std::remove_const_t<S>>(scores, labels));
}

/// Partial AUC from FAR 0 to max_far in (0, 1]: raw area and McClish-standardised value.
template <roc_source Src>
partial_auc_result partial_auc(const Src& s, double max_far) {
  detail::require_max_far(max_far);
  detail::partial_auc_accumulator acc;
  acc.P = s.genuine_count();
  acc.N = s.impostor_count();
  acc.max_far = max_far;
  s.walk_corners([&](index_t fp, index_t tp, double t) { acc.push({fp, tp, t}); });
  acc.finish();
  return acc.result();
}

template <class S, class L>
partial_auc_result partial_auc(vector_view<S> scores, vector_view<L> labels, double max_far) {
  detail::require_max_far(max_far);
  return partial_auc(sorted_scores<std::remove_const_t<S>>(scores, labels), max_far);
}

}  // namespace unitsface::metrics
