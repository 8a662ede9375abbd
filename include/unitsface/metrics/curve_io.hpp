// unitsface metrics: a ROC curve written as CSV, and a ROC curve resampled on a log-spaced FAR
// grid (for plots and reports that show FAR on a log axis).
//
// Resampling rule: at most. The TAR at a grid FAR f is the largest TPR among the curve's
// points with FPR <= f, at the highest threshold reaching that TPR: the same operating point
// as tar_at_far(..., far_rule::at_most) gives for target f. A ROC is a step function between
// its observed operating points; at-most keeps every resampled value an operating point that
// really exists (a threshold that achieves it), where interpolating between points would draw
// a TAR no threshold gives, and on a log axis would bend the straight segments besides.
// Resample the full curve (compute_roc(s, false)): drop_intermediate removes collinear points,
// some of which are at-most operating points.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "unitsface/core/error.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

/// FARs 10^(k / per_decade) from `lo` to `hi` (both in (0, 1], lo <= hi), ascending. The decades
/// are exact (1e-6 is the double nearest 10^-6, as a literal would be), so a grid point can be
/// compared with a standard FAR target.
inline std::vector<double> log_far_grid(double lo, double hi, int per_decade) {
  detail::require(lo > 0.0 && lo <= hi && hi <= 1.0, "lo, hi", "need 0 < lo <= hi <= 1");
  detail::require(per_decade >= 1 && per_decade <= 1000, "per_decade", "must lie in [1, 1000]");
  // A little slack so that lo = 1e-6 itself (log10 a hair off -6) is included.
  const double eps = 1e-9;
  const long k0 = std::lround(std::ceil(std::log10(lo) * per_decade - eps));
  const long k1 = std::lround(std::floor(std::log10(hi) * per_decade + eps));
  std::vector<double> grid;
  for (long k = k0; k <= k1; ++k) {
    if (k % per_decade == 0) {
      // std::strtod rounds correctly; std::pow need not.
      char buf[16];
      std::snprintf(buf, sizeof buf, "1e%ld", k / per_decade);
      grid.push_back(std::strtod(buf, nullptr));
    } else {
      grid.push_back(std::pow(10.0, double(k) / double(per_decade)));
    }
  }
  return grid;
}

/// TAR at each FAR of `far_grid` by the at-most rule (see the top of this file), read from a
/// curve as compute_roc returns it (fpr and tpr non-decreasing, thresholds descending, first
/// point (0, 0, +inf)). Results are {target, tar, threshold, far} as tar_at_far gives them.
inline std::vector<tar_at_far_result> resample_roc(const roc_curve& c,
                                                   const std::vector<double>& far_grid) {
  detail::require(
      c.fpr.size() == c.tpr.size() && c.fpr.size() == c.thresholds.size() && !c.fpr.empty(),
      "curve", "needs at least one point and as many fpr, tpr and thresholds");
  detail::require(c.fpr.front() == 0.0 && c.tpr.front() == 0.0, "curve",
                  "must start at the (0, 0) point, as compute_roc's curves do");
  detail::require_far_targets(far_grid, "far_grid");
  std::vector<tar_at_far_result> out;
  out.reserve(far_grid.size());
  for (double f : far_grid) {
    // The last point with fpr <= f holds the largest TPR there (tpr never decreases); the first
    // point with that TPR is its highest threshold and lowest FAR.
    const auto last = std::upper_bound(c.fpr.begin(), c.fpr.end(), f) - 1;
    const double tar = c.tpr[std::size_t(last - c.fpr.begin())];
    const std::size_t i =
        std::size_t(std::lower_bound(c.tpr.begin(), c.tpr.end(), tar) - c.tpr.begin());
    out.push_back({f, tar, c.thresholds[i], c.fpr[i]});
  }
  return out;
}

/// Writes `c` as CSV: a header line `threshold,far,tar`, then one line per point in the curve's
/// order. Values have 17 significant digits, so they read back as the same doubles; the first
/// point's threshold is written `inf` (as scikit-learn >= 1.3 and numpy write it).
inline void write_roc_csv(std::ostream& out, const roc_curve& c) {
  detail::require(c.fpr.size() == c.tpr.size() && c.fpr.size() == c.thresholds.size(), "curve",
                  "needs as many fpr, tpr and thresholds");
  out << "threshold,far,tar\n";
  char buf[96];
  for (std::size_t i = 0; i < c.size(); ++i) {
    const double t = c.thresholds[i];
    if (std::isinf(t)) {
      std::snprintf(buf, sizeof buf, "%s,%.17g,%.17g\n", t > 0 ? "inf" : "-inf", c.fpr[i],
                    c.tpr[i]);
    } else {
      std::snprintf(buf, sizeof buf, "%.17g,%.17g,%.17g\n", t, c.fpr[i], c.tpr[i]);
    }
    out << buf;
  }
}

}  // namespace unitsface::metrics
