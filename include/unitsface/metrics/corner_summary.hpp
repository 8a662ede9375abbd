// unitsface metrics: what the corners of the ROC give exactly — AUC, EER and the at-most
// TAR at FAR targets — from any score source that walks its corners: genuine_buckets and
// sorted_scores on the host, device::summarize_corners on a Thrust system.
//
// The at-most rule only ever picks a point where the TP count rises, a genuine value's corner,
// whose threshold is that value; the end of an impostor run only bounds a FAR. Of the
// thresholds of run ends, only the EER's reads one (interpolated between its segment's ends).
#pragma once

#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

/// What the corners of the ROC give exactly.
struct corner_summary {
  index_t genuine = 0;
  index_t impostor = 0;
  double auc = 0;
  eer_result eer;  ///< exact EER; the threshold is interpolated inside an impostor run
  std::vector<tar_at_far_result> at_most;  ///< far_rule::at_most, one per target
};

/// AUC, EER and the at-most TAR at FAR targets of a score source that walks its ROC corners
/// (genuine_buckets, sorted_scores): genuine_count(), impostor_count() and
/// walk_corners(visit(fp, tp, threshold)), highest threshold first.
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
