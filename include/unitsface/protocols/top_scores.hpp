// unitsface protocols: exact at-most TAR@FAR from all genuine scores and only the highest
// impostor scores.
//
// Under the at-most rule a target f qualifies only ROC points with FP <= floor(f * N), so with
// F = floor(max target * N) the F + 2 highest impostor scores decide every target (one more
// than F + 1 against the rounding of f * N): a threshold above the lowest kept score sees every
// impostor above it among the kept ones, and one at or below it already has FP >= F + 2 (kept
// ones alone), which no target accepts. top_scores keeps those scores by selection (nth_element
// whenever its buffer doubles), O(F) memory however many impostors stream past.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::protocols {

/// The `keep` highest of the scores pushed into it, and how many were pushed.
class top_scores {
 public:
  explicit top_scores(index_t keep) : keep_(keep) {
    unitsface::detail::require(keep >= 1, "keep", "must be >= 1");
  }
  void push(double s) {
    if (!std::isfinite(s)) metrics::detail::require_finite_score(s, count_, "impostor");
    ++count_;
    if (index_t(v_.size()) >= keep_ && s < lowest_kept_) return;  // below a full selection
    v_.push_back(s);
    if (index_t(v_.size()) >= 2 * keep_) shrink();
  }
  index_t count() const { return count_; }
  /// The kept scores, highest first.
  std::vector<double> sorted() {
    shrink();
    std::sort(v_.begin(), v_.end(), std::greater<>());
    return v_;
  }

 private:
  void shrink() {
    if (index_t(v_.size()) <= keep_) return;
    std::nth_element(v_.begin(), v_.begin() + (keep_ - 1), v_.end(), std::greater<>());
    v_.resize(std::size_t(keep_));
    lowest_kept_ = *std::min_element(v_.begin(), v_.end());
  }
  index_t keep_;
  index_t count_ = 0;
  double lowest_kept_ = -INFINITY;
  std::vector<double> v_;
};

/// How many impostor scores top_scores must keep for these targets over N impostors.
inline index_t impostors_to_keep(const std::vector<double>& far_targets, index_t N) {
  metrics::detail::require_far_targets(far_targets, "far_targets");
  const double f = *std::max_element(far_targets.begin(), far_targets.end());
  return std::min<index_t>(N, index_t(std::floor(f * double(N))) + 1) + 1;
}

/// At-most TAR at FAR targets from every genuine score (any order) and the kept impostors of `top`.
inline std::vector<metrics::tar_at_far_result> tar_at_far_at_most(
    std::vector<double> genuine, top_scores& top, const std::vector<double>& far_targets) {
  const index_t P = index_t(genuine.size()), N = top.count();
  metrics::detail::require_both_classes(P, N, "scores");
  std::sort(genuine.begin(), genuine.end(), std::greater<>());
  const std::vector<double> imp = top.sorted();
  metrics::detail::at_most_accumulator acc{P, N, far_targets};
  std::size_t g = 0, i = 0;
  index_t tp = 0, fp = 0;
  while (g < genuine.size() && acc.open > 0) {
    const double t = i < imp.size() ? std::max(genuine[g], imp[i]) : genuine[g];
    while (i < imp.size() && imp[i] == t) ++i, ++fp;
    while (g < genuine.size() && genuine[g] == t) ++g, ++tp;
    acc.push(metrics::detail::roc_point{fp, tp, t});
  }
  return acc.results();
}

}  // namespace unitsface::protocols
