// unitsface metrics: every summary verification metric from the sorted scores, in two walks.
//
// The summary path (AUC, partial AUC, EER, TAR@FAR under the three rules) holds the sorted
// keys (4 bytes per float score) and O(number of targets) state: the ROC is never stored.
#pragma once

#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/sorted_scores.hpp"
#include "unitsface/metrics/tar_at_far.hpp"

namespace unitsface::metrics {

struct verification_options {
  std::vector<double> far_targets = standard_far_targets();
  double partial_auc_max_far = 0.1;
};

struct verification_summary {
  index_t genuine = 0;
  index_t impostor = 0;
  double auc = 0;
  partial_auc_result partial_auc;
  eer_result eer;
  std::vector<tar_at_far_result> at_most;       ///< far_rule::at_most, one per target
  std::vector<tar_at_far_result> nearest;       ///< far_rule::nearest
  std::vector<tar_at_far_result> interpolated;  ///< far_rule::interpolated
};

namespace detail {
/// A summary from summarize_verification's finished accumulators (the host path below, the
/// device one in device/verification.hpp).
inline verification_summary summary_of(index_t P, index_t N, const auc_accumulator& auc,
                                       const partial_auc_accumulator& pauc,
                                       const eer_accumulator& eer,
                                       const at_most_accumulator& at_most,
                                       const nearest_accumulator& nearest,
                                       const interpolated_accumulator& interp) {
  verification_summary r;
  r.genuine = P;
  r.impostor = N;
  r.auc = auc.value();
  r.partial_auc = pauc.result();
  r.eer = eer.r;
  r.at_most = at_most.results();
  r.nearest = nearest.results();
  r.interpolated = interp.out;
  return r;
}
}  // namespace detail

template <roc_source Src>
verification_summary summarize_verification(const Src& s,
                                            const verification_options& options = {}) {
  detail::require_far_targets(options.far_targets, "far_targets");
  detail::require_max_far(options.partial_auc_max_far);
  const index_t P = s.genuine_count(), N = s.impostor_count();
  detail::auc_accumulator auc{P, N};
  detail::partial_auc_accumulator pauc;
  pauc.P = P;
  pauc.N = N;
  pauc.max_far = options.partial_auc_max_far;
  detail::eer_accumulator eer;
  eer.P = P;
  eer.N = N;
  detail::at_most_accumulator at_most{P, N, options.far_targets};
  detail::nearest_accumulator nearest{P, N, options.far_targets};
  detail::interpolated_accumulator interp{P, N, options.far_targets};
  auto kept = [&](const detail::roc_point& p) { nearest.push(p); };
  detail::drop_intermediate_filter<decltype(kept)&> drop{kept};
  // AUC, partial AUC, EER and the at-most rule need only the corners of the ROC (a fast walk
  // that skips impostor runs); the nearest and interpolated rules need every point, but only
  // up to their largest target, after which the walk stops.
  s.walk_corners([&](index_t fp, index_t tp, double t) {
    const detail::roc_point p{fp, tp, t};
    auc.push(p);
    pauc.push(p);
    eer.push(p);
    at_most.push(p);
  });
  pauc.finish();
  detail::refine_eer_threshold(s, eer);
  s.walk([&](index_t fp, index_t tp, double t) {
    const detail::roc_point p{fp, tp, t};
    drop.push(p);
    interp.push(p);
    return nearest.open > 0 || interp.open > 0;
  });
  drop.finish();
  interp.finish();
  return detail::summary_of(P, N, auc, pauc, eer, at_most, nearest, interp);
}

/// Sorts (see sorted_scores) and summarises. Throws unitsface::invalid_argument on bad input.
template <class S, class L>
verification_summary summarize_verification(vector_view<S> scores, vector_view<L> labels,
                                            const verification_options& options = {}) {
  detail::require_far_targets(options.far_targets, "far_targets");
  detail::require_max_far(options.partial_auc_max_far);
  return summarize_verification(sorted_scores<std::remove_const_t<S>>(scores, labels), options);
}

}  // namespace unitsface::metrics
