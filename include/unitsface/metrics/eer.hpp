// unitsface metrics: equal error rate (EER) and its threshold.
//
// Convention: the common `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)` definition,
// i.e. the FAR where the ROC polyline (points joined by straight lines) crosses the line
// TAR = 1 - FAR. The crossing is found exactly on the segment where 1 - FAR - TAR changes
// sign, with integer counts, so no root finder is needed. Where the crossing falls on a
// vertical piece of the ROC (a tie of genuine scores), the EER is that piece's FAR and any of
// its thresholds is as right; the threshold reported is interpolated along the segment.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "unitsface/core/config.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/sorted_scores.hpp"

namespace unitsface::metrics {

struct eer_result {
  double eer = 0;        ///< FAR (= FRR) at the crossing
  double threshold = 0;  ///< score threshold at the crossing
};

namespace detail {

struct eer_accumulator {
  index_t P = 0, N = 0;
  roc_point prev;  // (0, 0, +inf)
  int128_t h_prev = 0;
  bool found = false;
  roc_point seg_begin, seg_end;  // the segment holding the crossing
  eer_result r;
  // h = P*N*(1 - fpr - tpr), exact in 128 bits; it starts at P*N and ends at -P*N.
  int128_t h(const roc_point& p) const {
    return int128_t(P) * int128_t(N) - int128_t(p.fp) * int128_t(P) - int128_t(p.tp) * int128_t(N);
  }
  void push(const roc_point& p) {
    if (found) return;
    if (prev.fp == 0 && prev.tp == 0) h_prev = int128_t(P) * int128_t(N);
    const int128_t hp = h(p);
    if (hp > 0) {
      prev = p;
      h_prev = hp;
      return;
    }
    found = true;
    seg_begin = prev;
    seg_end = p;
    // Fraction along the segment prev -> p where h reaches 0 (h_prev > 0 >= hp).
    const double t = static_cast<double>(h_prev) / static_cast<double>(h_prev - hp);
    r.eer = (double(prev.fp) + t * double(p.fp - prev.fp)) / double(N);
    if (hp == 0) r.eer = double(p.fp) / double(N);
    r.threshold =
        reads_begin_threshold() ? prev.threshold + t * (p.threshold - prev.threshold) : p.threshold;
  }
  /// Whether the threshold found reads the segment's start as well as its end: not where the
  /// start is the walk's (0, 0, +inf) or the crossing falls on the end. A source that fills
  /// thresholds on demand (device::summarize_corners) asks before filling the start's.
  bool reads_begin_threshold() const {
    return found && !std::isinf(seg_begin.threshold) && h(seg_end) != 0;
  }
};

/// When the crossing falls on a horizontal piece that a corner walk crossed in one step, the
/// threshold is interpolated along the segment of the full ROC that holds x = EER * N: it ends
/// at the point of v, the impostor score of rank floor(x) + 1, and starts at the point above,
/// so tied impostor scores (one ROC point for several ranks) widen the segment. The ranks are
/// read from the score set (impostor_score_at_rank, non-increasing in the rank), by binary
/// search between the ends of the horizontal piece.
template <roc_source Src>
void refine_eer_threshold(const Src& s, eer_accumulator& acc) {
  const roc_point a = acc.seg_begin, b = acc.seg_end;
  if (!acc.found || a.tp != b.tp || b.fp - a.fp < 2) return;
  const index_t N = s.impostor_count();
  auto score_at_rank = [&](index_t rank) { return s.impostor_score_at_rank(rank); };
  const double x = acc.r.eer * double(N);
  const index_t r = std::clamp<index_t>(index_t(std::floor(x)), a.fp, b.fp - 1);
  const double v = score_at_rank(r + 1);
  // first: the lowest rank in (a.fp, r + 1] scoring v; last: the highest in [r + 1, b.fp].
  index_t lo = a.fp + 1, hi = r + 1;
  while (lo < hi) {
    const index_t mid = lo + (hi - lo) / 2;
    if (score_at_rank(mid) > v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const index_t first = lo;
  lo = r + 1;
  hi = b.fp;
  while (lo < hi) {
    const index_t mid = hi - (hi - lo) / 2;
    if (score_at_rank(mid) < v) {
      hi = mid - 1;
    } else {
      lo = mid;
    }
  }
  const index_t last = lo;
  const index_t above = first - 1;  // FP count of the point above the segment's end
  const double left = above <= a.fp ? a.threshold : score_at_rank(above);
  acc.r.threshold =
      std::isinf(left) ? v : left + (x - double(above)) / double(last - above) * (v - left);
}

}  // namespace detail

template <roc_source Src>
eer_result equal_error_rate(const Src& s) {
  detail::eer_accumulator acc;
  acc.P = s.genuine_count();
  acc.N = s.impostor_count();
  s.walk_corners([&](index_t fp, index_t tp, double t) { acc.push({fp, tp, t}); });
  detail::refine_eer_threshold(s, acc);
  return acc.r;
}

template <class S, class L>
eer_result equal_error_rate(vector_view<S> scores, vector_view<L> labels) {
  return equal_error_rate(sorted_scores<std::remove_const_t<S>>(scores, labels));
}

}  // namespace unitsface::metrics
