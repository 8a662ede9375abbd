// unitsface metrics: TAR at given FAR targets under three named rules, threshold at a FAR,
// and FAR/FRR at a threshold.
//
// Rules (each returns TAR, threshold and the FAR actually achieved):
//  - at_most (default): the largest TAR among ROC points with FAR <= target; among equal
//    TARs the highest threshold (lowest FAR). If no point but the first qualifies, TAR = 0 at
//    threshold +inf. The usual "TAR @ FAR = 1e-4" of papers that never exceed the target.
//  - nearest: insightface's IJB-C evaluation: ROC with drop_intermediate, points in reverse
//    order, the first point whose |FAR - target| is smallest (so among ties the lowest
//    threshold). The achieved FAR can exceed the target.
//  - interpolated: TAR interpolated linearly over FAR (numpy.interp) on the upper envelope
//    of the full ROC (for each distinct FAR its largest TAR). The threshold is interpolated
//    the same way between the two envelope points (or the lower point's threshold when the
//    upper one is the +inf point). The FAR reported is the one that threshold achieves: the
//    first point's while the threshold is above the impostor score where the FAR steps to the
//    second point's, else the second's. The interpolated TAR itself is achieved by no
//    threshold (it is a point of the chord, not of the ROC).
// None stores the ROC: at_most walks only the corners of the curve (sorted_scores::
// walk_corners); nearest and interpolated walk every point up to their largest target and stop.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/sorted_scores.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

enum class far_rule { at_most, nearest, interpolated };

struct tar_at_far_result {
  double target = 0;     ///< the FAR asked for
  double tar = 0;        ///< true accept rate at the chosen operating point
  double threshold = 0;  ///< score threshold (accept when score >= threshold); +inf: none
  double far = 0;        ///< FAR actually achieved at that threshold
};

/// The standard targets 1e-6 ... 1e-1.
inline std::vector<double> standard_far_targets() {
  return {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1};
}

namespace detail {

constexpr double inf = std::numeric_limits<double>::infinity();

struct at_most_accumulator {
  index_t P = 0, N = 0;
  std::vector<double> targets;
  at_most_accumulator(index_t P_, index_t N_, std::vector<double> targets_)
      : P(P_), N(N_), targets(std::move(targets_)) {
    init();
  }
  std::vector<roc_point> best;  // one per target, starts at (0, 0, +inf)
  index_t prev_tp = 0;
  index_t open = 0;  // targets still able to change
  void init() {
    best.assign(targets.size(), roc_point{});
    open = index_t(targets.size());
  }
  void push(const roc_point& p) {
    // Only a point where TP rises can raise a TAR, and it is the highest threshold of that TAR.
    if (p.tp == prev_tp || open == 0) return;
    prev_tp = p.tp;
    const double fpr = double(p.fp) / double(N);
    for (std::size_t j = 0; j < targets.size(); ++j) {
      if (best[j].fp < 0) continue;  // closed
      if (fpr <= targets[j]) {
        best[j] = p;
      } else {
        best[j].fp = -1 - best[j].fp;  // close, remembering fp as -1 - fp
        --open;
      }
    }
  }
  std::vector<tar_at_far_result> results() const {
    std::vector<tar_at_far_result> out(targets.size());
    for (std::size_t j = 0; j < targets.size(); ++j) {
      const roc_point& b = best[j];
      const index_t fp = b.fp < 0 ? -1 - b.fp : b.fp;
      out[j] = {targets[j], double(b.tp) / double(P), b.threshold, double(fp) / double(N)};
    }
    return out;
  }
};

/// Candidates are the drop_intermediate points and the (0, 0, +inf) point; a later point wins
/// ties (reverse order, first minimum). A target is settled once the FAR has passed it and the
/// distance grows.
struct nearest_accumulator {
  index_t P = 0, N = 0;
  std::vector<double> targets;
  nearest_accumulator(index_t P_, index_t N_, std::vector<double> targets_)
      : P(P_), N(N_), targets(std::move(targets_)) {
    init();
  }
  std::vector<roc_point> best;
  std::vector<double> best_d;
  std::vector<char> closed;
  index_t open = 0;
  void init() {
    best.assign(targets.size(), roc_point{});
    best_d.resize(targets.size());
    for (std::size_t j = 0; j < targets.size(); ++j) best_d[j] = std::abs(0.0 - targets[j]);
    closed.assign(targets.size(), 0);
    open = index_t(targets.size());
  }
  void push(const roc_point& p) {  // a kept (drop_intermediate) point
    if (open == 0) return;
    const double fpr = double(p.fp) / double(N);
    for (std::size_t j = 0; j < targets.size(); ++j) {
      if (closed[j]) continue;
      const double d = std::abs(fpr - targets[j]);
      if (d <= best_d[j]) {
        best_d[j] = d;
        best[j] = p;
      } else if (fpr > targets[j]) {
        closed[j] = 1;
        --open;
      }
    }
  }
  std::vector<tar_at_far_result> results() const {
    std::vector<tar_at_far_result> out(targets.size());
    for (std::size_t j = 0; j < targets.size(); ++j) {
      out[j] = {targets[j], double(best[j].tp) / double(P), best[j].threshold,
                double(best[j].fp) / double(N)};
    }
    return out;
  }
};

/// Envelope points arrive grouped: a point is emitted when the FP count changes, carrying the
/// largest TP of its FAR. Each target is interpolated between the last envelope point with
/// FAR <= target and the next one, with numpy.interp's formula.
struct interpolated_accumulator {
  index_t P = 0, N = 0;
  std::vector<double> targets;
  interpolated_accumulator(index_t P_, index_t N_, std::vector<double> targets_)
      : P(P_), N(N_), targets(std::move(targets_)) {
    init();
  }
  std::vector<tar_at_far_result> out;
  std::vector<char> closed;
  index_t open = 0;
  roc_point cur;  // envelope point being grouped (starts at the (0, 0, +inf) point)
  // The threshold of the group's first point: the impostor score at which the FP count steps
  // to cur.fp (cur itself is the group's last, lowest-threshold point).
  double cur_first = std::numeric_limits<double>::infinity();
  roc_point last_emitted;
  bool have_emitted = false;
  void init() {
    out.assign(targets.size(), tar_at_far_result{});
    closed.assign(targets.size(), 0);
    open = index_t(targets.size());
  }
  void envelope_point(const roc_point& e, double e_first) {
    if (have_emitted && open > 0) {
      const roc_point& a = last_emitted;
      const double xa = double(a.fp) / double(N), xb = double(e.fp) / double(N);
      const double ya = double(a.tp) / double(P), yb = double(e.tp) / double(P);
      for (std::size_t j = 0; j < targets.size(); ++j) {
        if (closed[j] || !(targets[j] < xb)) continue;
        // Here xa <= target < xb: the first envelope point beyond the target.
        const double f = targets[j];
        const double slope = (yb - ya) / (xb - xa);
        const double frac = (f - xa) / (xb - xa);
        const double thr = std::isinf(a.threshold)
                               ? e.threshold
                               : a.threshold + frac * (e.threshold - a.threshold);
        // Accepting score >= thr (thr >= e.threshold): the impostors of the first point while
        // thr is above the score where the FP count steps to e's, e's from there down.
        out[j] = {f, slope * (f - xa) + ya, thr, thr > e_first ? xa : xb};
        closed[j] = 1;
        --open;
      }
    }
    last_emitted = e;
    have_emitted = true;
  }
  void push(const roc_point& p) {
    if (p.fp != cur.fp) {
      envelope_point(cur, cur_first);
      cur_first = p.threshold;
    }
    cur = p;
  }
  void finish() {
    envelope_point(cur, cur_first);
    // Targets at or beyond the last FAR (1): numpy.interp returns the last value.
    for (std::size_t j = 0; j < targets.size(); ++j) {
      if (closed[j]) continue;
      out[j] = {targets[j], double(last_emitted.tp) / double(P), last_emitted.threshold,
                double(last_emitted.fp) / double(N)};
    }
  }
};

}  // namespace detail

/// TAR at each FAR target (in (0, 1]) under `rule`, results in the order of `far_targets`.
template <roc_source Src>
std::vector<tar_at_far_result> tar_at_far(const Src& s, const std::vector<double>& far_targets,
                                          far_rule rule = far_rule::at_most) {
  detail::require_far_targets(far_targets, "far_targets");
  const index_t P = s.genuine_count(), N = s.impostor_count();
  switch (rule) {
    case far_rule::at_most: {
      detail::at_most_accumulator acc{P, N, far_targets};
      s.walk_corners([&](index_t fp, index_t tp, double t) { acc.push({fp, tp, t}); });
      return acc.results();
    }
    case far_rule::nearest: {
      detail::nearest_accumulator acc{P, N, far_targets};
      auto kept = [&](const detail::roc_point& p) { acc.push(p); };
      detail::drop_intermediate_filter<decltype(kept)&> drop{kept};
      // Stop once every target is settled (the look-ahead point has been seen by then).
      s.walk([&](index_t fp, index_t tp, double t) {
        drop.push({fp, tp, t});
        return acc.open > 0;
      });
      drop.finish();
      return acc.results();
    }
    case far_rule::interpolated: {
      detail::interpolated_accumulator acc{P, N, far_targets};
      s.walk([&](index_t fp, index_t tp, double t) {
        acc.push({fp, tp, t});
        return acc.open > 0;
      });
      acc.finish();
      return acc.out;
    }
  }
  throw invalid_argument("rule", "unknown far_rule");
}

template <class S, class L>
std::vector<tar_at_far_result> tar_at_far(vector_view<S> scores, vector_view<L> labels,
                                          const std::vector<double>& far_targets,
                                          far_rule rule = far_rule::at_most) {
  detail::require_far_targets(far_targets, "far_targets");
  return tar_at_far(sorted_scores<std::remove_const_t<S>>(scores, labels), far_targets, rule);
}

/// The threshold of the at-most rule: the lowest threshold whose FAR stays <= target while
/// reaching the largest TAR (+inf when even the highest score is an impostor beyond target).
template <roc_source Src>
double threshold_at_far(const Src& s, double far_target) {
  detail::require_far_target(far_target, "far_target");
  return tar_at_far(s, std::vector<double>{far_target}, far_rule::at_most)[0].threshold;
}

template <class S, class L>
double threshold_at_far(vector_view<S> scores, vector_view<L> labels, double far_target) {
  detail::require_far_target(far_target, "far_target");
  return threshold_at_far(sorted_scores<std::remove_const_t<S>>(scores, labels), far_target);
}

struct far_frr_result {
  double far = 0;                  ///< accepted impostors / impostors
  double frr = 0;                  ///< rejected genuines / genuines
  index_t accepted_impostors = 0;  ///< impostor scores >= threshold
  index_t rejected_genuines = 0;   ///< genuine scores < threshold
};

/// FAR and FRR when accepting score >= threshold. One pass, no sort.
template <class S, class L>
far_frr_result far_frr_at_threshold(vector_view<S> scores, vector_view<L> labels,
                                    double threshold) {
  detail::require(!std::isnan(threshold), "threshold", "must not be NaN");
  detail::require_size("labels", labels.size(), scores.size());
  index_t P = 0, fa = 0, fr = 0;
  for (index_t i = 0; i < scores.size(); ++i) {
    detail::require_finite_score(scores[i], i, "scores");
    const bool g = detail::genuine_label(labels[i], i, "labels");
    const bool accepted = double(scores[i]) >= threshold;
    P += g;
    fa += (!g && accepted);
    fr += (g && !accepted);
  }
  detail::require_both_classes(P, scores.size() - P, "labels");
  return {double(fa) / double(scores.size() - P), double(fr) / double(P), fa, fr};
}

}  // namespace unitsface::metrics
