// unitsface metrics on a Thrust system: the verification metrics of scores and labels that
// live in a Thrust policy's memory (thrust_cpp, thrust_omp, cuda_policy).
//
//   namespace umd = unitsface::metrics::device;
//   auto s = unitsface::thrust_adapt::vector(scores_vec);   // views of the system's memory
//   auto y = unitsface::thrust_adapt::vector(labels_vec);
//   auto summary = umd::summarize_verification(unitsface::thrust_omp, s, y);
//
//   umd::roc_points points(pol, s, y);                      // sort once, then any metric:
//   auto roc = unitsface::metrics::compute_roc(points, /*drop_intermediate=*/true);
//   auto ijbc = unitsface::metrics::tar_at_far(points, {1e-4, 1e-5}, far_rule::nearest);
//
// Each function checks its own arguments first (as its host overload does), builds the ROC
// points on the system (roc_points.hpp) and applies the host rules to them, so results,
// exceptions and argument names are those of the host path.
#pragma once

#include <type_traits>
#include <vector>

#include "unitsface/core/view.hpp"
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

template <thrust_system_policy Policy, class S, class L>
verification_summary summarize_verification(const Policy& pol, vector_view<S> scores,
                                            vector_view<L> labels,
                                            const verification_options& options = {}) {
  metrics::detail::require_far_targets(options.far_targets, "far_targets");
  metrics::detail::require_max_far(options.partial_auc_max_far);
  return metrics::summarize_verification(roc_points(pol, scores, labels), options);
}

}  // namespace unitsface::metrics::device
