// unitsface metrics: exact AUC, EER and at-most TAR@FAR when the genuine scores are few, without
// sorting (or keeping) the impostor scores.
//
// The genuine scores are sorted once (distinct values, highest first, with their counts); every
// impostor score is then only counted, by binary search, into the bucket of the genuine values
// around it: equal to genuine value k, or strictly between values k - 1 and k (keeping the
// lowest such score, the threshold of the ROC point that ends the run). Those counts are the
// corners of the ROC, the same points as sorted_scores::walk_corners gives after sorting
// everything; AUC, partial AUC, EER and the at-most rule need nothing else. Memory is O(genuine
// scores); an impostor costs O(1) (a grid over the genuine values narrows the binary search to
// a few values; below every genuine value there is no search at all), so the impostors can
// stream past (from similarity tiles as they are produced); two bucket sets over the same
// genuine scores merge by adding counts (shards of the impostor pairs: threads, processes).
//
// What corners cannot give: the nearest and interpolated TAR@FAR rules (they look at every
// impostor threshold) and the EER threshold where the crossing falls inside a run of impostors
// (interpolated between the run's ends; the EER value itself is exact).
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

class genuine_buckets {
 public:
  /// From the genuine scores, in any order (NaN/Inf refused, naming `genuine`).
  explicit genuine_buckets(std::vector<double> genuine) {
    detail::require(!genuine.empty(), "genuine", "no genuine score");
    for (std::size_t i = 0; i < genuine.size(); ++i)
      detail::require_finite_score(genuine[i], index_t(i), "genuine");
    std::sort(genuine.begin(), genuine.end(), std::greater<>());
    for (double g : genuine) {
      if (values_.empty() || values_.back() != g) {
        values_.push_back(g);
        count_.push_back(0);
      }
      ++count_.back();
    }
    genuine_ = index_t(genuine.size());
    const std::size_t k = values_.size();
    equal_.assign(k, 0);
    above_.assign(k + 1, 0);  // above_[k]: between value k - 1 and k; above_[K]: below the last
    above_min_.assign(k + 1, std::numeric_limits<double>::infinity());
    // A uniform grid over [lowest, highest] genuine value, 4 cells per distinct value: cell b
    // holds first_[b] = the first value <= hi - b / scale, so a score's value index lies
    // between the entries of its cell's neighbours and a binary search over a few values (most
    // often none) finds it.
    hi_ = values_.front();
    lo_ = values_.back();
    const index_t cells = 4 * index_t(k);
    scale_ = hi_ > lo_ ? double(cells) / (hi_ - lo_) : 0.0;
    first_.resize(std::size_t(cells) + 2);
    std::size_t v = 0;
    for (index_t b = 0; b <= cells + 1; ++b) {
      const double edge = hi_ - double(b) / scale_;
      while (v < k && values_[v] > edge) ++v;
      first_[std::size_t(b)] = index_t(v);
    }
  }

  /// Counts one impostor score (NaN/Inf refused, naming `impostor`).
  void add_impostor(double s) {
    if (!std::isfinite(s)) detail::require_finite_score(s, impostor_, "impostor");
    // k = the first genuine value <= s (values_ is descending).
    std::size_t k;
    if (s < lo_) {  // below every genuine value: the common case, no search
      k = values_.size();
    } else if (s > hi_) {
      k = 0;
    } else if (scale_ == 0.0) {
      k = 0;  // one distinct value, and s equals it
    } else {
      const index_t cells = index_t(first_.size()) - 2;
      const index_t b = std::min(cells, index_t((hi_ - s) * scale_));
      const index_t from = first_[std::size_t(b > 0 ? b - 1 : 0)];
      const index_t to = first_[std::size_t(std::min(b + 2, cells + 1))];
      // No genuine value in the cell or its neighbours (most cells): the answer is `from`.
      k = from == to ? std::size_t(from)
                     : std::size_t(std::lower_bound(values_.begin() + from, values_.begin() + to, s,
                                                    std::greater<>()) -
                                   values_.begin());
    }
    if (k < values_.size() && values_[k] == s) {
      ++equal_[k];
    } else {
      ++above_[k];
      if (s < above_min_[k]) above_min_[k] = s;
    }
    ++impostor_;
  }

  /// Adds the impostor counts of another set built from the same genuine scores.
  void merge(const genuine_buckets& o) {
    detail::require(o.values_ == values_ && o.count_ == count_, "other",
                    "was built from other genuine scores");
    for (std::size_t k = 0; k < equal_.size(); ++k) equal_[k] += o.equal_[k];
    for (std::size_t k = 0; k < above_.size(); ++k) {
      above_[k] += o.above_[k];
      above_min_[k] = std::min(above_min_[k], o.above_min_[k]);
    }
    impostor_ += o.impostor_;
  }

  index_t genuine_count() const { return genuine_; }
  index_t impostor_count() const { return impostor_; }

  /// visit(fp, tp, threshold) at the corners of the ROC, highest threshold first: the points
  /// sorted_scores::walk_corners visits for the same scores.
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    index_t tp = 0, fp = 0;
    for (std::size_t k = 0; k < values_.size(); ++k) {
      if (above_[k] > 0) {
        fp += above_[k];
        visit(fp, tp, above_min_[k]);
      }
      tp += count_[k];
      fp += equal_[k];
      visit(fp, tp, values_[k]);
    }
    const std::size_t last = values_.size();
    if (above_[last] > 0) visit(fp + above_[last], tp, above_min_[last]);
  }

 private:
  std::vector<double> values_;  // distinct genuine scores, highest first
  std::vector<index_t> count_;  // genuine scores equal to each
  std::vector<index_t> equal_;  // impostor scores equal to each
  std::vector<index_t> above_;  // impostor scores strictly between value k - 1 (or +inf) and k
  std::vector<double> above_min_;
  std::vector<index_t> first_;  // the search grid (constructor)
  double lo_ = 0, hi_ = 0, scale_ = 0;
  index_t genuine_ = 0, impostor_ = 0;
};

/// What the corners of the ROC give exactly.
struct corner_summary {
  index_t genuine = 0;
  index_t impostor = 0;
  double auc = 0;
  eer_result eer;  ///< exact EER; the threshold is interpolated inside an impostor run
  std::vector<tar_at_far_result> at_most;  ///< far_rule::at_most, one per target
};

/// AUC, EER and the at-most TAR at FAR targets of a score source that walks its ROC corners
/// (genuine_buckets, sorted_scores).
template <class Src>
corner_summary summarize_corners(const Src& s,
                                 const std::vector<double>& far_targets = standard_far_targets()) {
  detail::require_far_targets(far_targets, "far_targets");
  const index_t P = s.genuine_count(), N = s.impostor_count();
  detail::require_both_classes(P, N, "scores");
  detail::auc_accumulator auc{P, N};
  detail::eer_accumulator eer;
  eer.P = P;
  eer.N = N;
  detail::at_most_accumulator at_most{P, N, far_targets};
  s.walk_corners([&](index_t fp, index_t tp, double t) {
    const detail::roc_point p{fp, tp, t};
    auc.push(p);
    eer.push(p);
    at_most.push(p);
  });
  corner_summary r;
  r.genuine = P;
  r.impostor = N;
  r.auc = auc.value();
  r.eer = eer.r;
  r.at_most = at_most.results();
  return r;
}

}  // namespace unitsface::metrics
