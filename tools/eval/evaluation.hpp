// unitsface-eval: everything the reports and plots show, computed once by the library's
// metrics from the validated scores.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "embedding_scores.hpp"
#include "score_set.hpp"
#include "unitsface/metrics.hpp"
#include "unitsface/metrics/curve_io.hpp"

namespace unitsface::eval {

struct evaluation {
  std::string input;  ///< the input as named on the command line (scores, and labels if any)
  metrics::far_rule rule = metrics::far_rule::at_most;
  metrics::verification_summary summary;
  std::vector<metrics::tar_at_far_result> tar_at_far;  ///< the chosen rule's, standard targets
  double plot_lo = 1e-6;                               ///< the plots' lowest FAR
  std::vector<metrics::tar_at_far_result> grid;        ///< at-most TAR on a log FAR grid
  metrics::roc_curve roc;                              ///< drop_intermediate curve (--roc-csv)
  /// k-fold accuracy over the pairs in input order (skipped, with `kfold_note` saying why,
  /// when there are fewer pairs than folds or --folds 0).
  metrics::kfold_options kfold_options;
  bool has_kfold = false;
  std::string kfold_note;
  metrics::kfold_result kfold;
  /// Embedding inputs: how many rows of how many dimensions; identity-labelled sets also give
  /// leave-one-out identification.
  std::uint64_t embeddings = 0, dimensions = 0;
  bool has_identification = false;
  identification_summary identification;
};

inline const char* rule_name(metrics::far_rule r) {
  switch (r) {
    case metrics::far_rule::at_most:
      return "at_most";
    case metrics::far_rule::nearest:
      return "nearest";
    case metrics::far_rule::interpolated:
      return "interpolated";
  }
  return "?";
}

/// Points per decade of the FAR grid: fine enough that a plotted step lands within 1/25 of a
/// decade of the curve's own step.
constexpr int grid_per_decade = 25;

/// The lowest FAR worth showing: the decade at or below 1/N (one impostor accepted), within
/// [1e-9, 1e-1]. Below 1/N the at-most TAR can only be the one of FAR 0.
inline double lowest_far(std::uint64_t impostors) {
  const double d = std::floor(std::log10(1.0 / double(impostors)));
  return std::pow(10.0, std::clamp(d, -9.0, -1.0));
}

inline const char* kfold_mode_name(metrics::kfold_mode m) {
  return m == metrics::kfold_mode::insightface ? "insightface" : "exact";
}

/// Computes the metrics; `need_grid` / `need_roc`: whether the plots or the JSON report want the
/// resampled curve, and whether --roc-csv wants the curve itself (each costs a stored curve).
/// `kfold.folds == 0` skips the k-fold accuracy.
inline evaluation evaluate(const score_set& s, std::string input, metrics::far_rule rule,
                           bool need_grid, bool need_roc, metrics::kfold_options kfold = {}) {
  evaluation e;
  e.input = std::move(input);
  e.rule = rule;
  e.kfold_options = kfold;
  if (kfold.folds == 0) {
    e.kfold_note = "skipped (--folds 0)";
  } else if (std::uint64_t(kfold.folds) > s.scores.size()) {
    e.kfold_note = "skipped: " + std::to_string(s.scores.size()) + " pairs, fewer than " +
                   std::to_string(kfold.folds) + " folds";
  } else {
    e.kfold = metrics::kfold_accuracy(
        vector_view<const double>(s.scores.data(), index_t(s.scores.size())),
        vector_view<const std::uint8_t>(s.labels.data(), index_t(s.labels.size())), kfold);
    e.has_kfold = true;
  }
  const vector_view<const double> scores(s.scores.data(), index_t(s.scores.size()));
  const vector_view<const std::uint8_t> labels(s.labels.data(), index_t(s.labels.size()));
  const metrics::sorted_scores<double> sorted(scores, labels);
  e.summary = metrics::summarize_verification(sorted);
  switch (rule) {
    case metrics::far_rule::at_most:
      e.tar_at_far = e.summary.at_most;
      break;
    case metrics::far_rule::nearest:
      e.tar_at_far = e.summary.nearest;
      break;
    case metrics::far_rule::interpolated:
      e.tar_at_far = e.summary.interpolated;
      break;
  }
  // The grid covers the standard targets (from 1e-6) and whatever lower FAR the set resolves;
  // the plots start where the set's resolution does.
  e.plot_lo = lowest_far(s.impostor());
  if (need_grid) {
    const auto full = metrics::compute_roc(sorted, /*drop_intermediate=*/false);
    const double lo = std::min(1e-6, e.plot_lo);
    e.grid = metrics::resample_roc(full, metrics::log_far_grid(lo, 1.0, grid_per_decade));
  }
  if (need_roc) e.roc = metrics::compute_roc(sorted, /*drop_intermediate=*/true);
  return e;
}

}  // namespace unitsface::eval
