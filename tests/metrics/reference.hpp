// Brute-force references for the metric tests: O(n^2) or O(n x distinct), double precision,
// written from the definitions (no sorting tricks, no shared code with the library), so that
// they can disagree with it.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../support/thrown_argument.hpp"
#include "unitsface/core/error.hpp"

namespace ref {

constexpr double inf = std::numeric_limits<double>::infinity();

using unitsface::test::thrown_argument;

struct point {
  double fp, tp, threshold;  // counts, and the threshold
};

/// ROC points for thresholds at every distinct score (descending), counted by a full scan
/// per threshold; first point (0, 0, +inf).
inline std::vector<point> roc(const std::vector<double>& s, const std::vector<int>& y) {
  std::set<double, std::greater<>> distinct(s.begin(), s.end());
  std::vector<point> out{{0, 0, inf}};
  for (double t : distinct) {
    double fp = 0, tp = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] >= t) (y[i] ? tp : fp) += 1;
    }
    out.push_back({fp, tp, t});
  }
  return out;
}

/// scikit-learn's drop_intermediate mask on the points after the first, then the first back.
inline std::vector<point> drop_intermediate(const std::vector<point>& full) {
  std::vector<point> p(full.begin() + 1, full.end()), out{full[0]};
  for (std::size_t i = 0; i < p.size(); ++i) {
    const bool end = i == 0 || i + 1 == p.size();
    if (end || p[i + 1].fp - 2 * p[i].fp + p[i - 1].fp != 0 ||
        p[i + 1].tp - 2 * p[i].tp + p[i - 1].tp != 0) {
      out.push_back(p[i]);
    }
  }
  return out;
}

inline double count(const std::vector<int>& y, int v) {
  return double(std::count(y.begin(), y.end(), v));
}

/// Mann-Whitney over all genuine x impostor pairs.
inline double auc(const std::vector<double>& s, const std::vector<int>& y) {
  double w = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!y[i]) continue;
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (y[j]) continue;
      w += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
  }
  return w / (count(y, 1) * count(y, 0));
}

/// numpy.interp on increasing xp (repeated xp allowed: the last of equal xp wins below).
inline double interp(double x, const std::vector<double>& xp, const std::vector<double>& yp) {
  if (x <= xp.front()) return yp.front();
  if (x >= xp.back()) return yp.back();
  std::size_t j = 0;
  while (j + 1 < xp.size() && xp[j + 1] <= x) ++j;
  return (yp[j + 1] - yp[j]) / (xp[j + 1] - xp[j]) * (x - xp[j]) + yp[j];
}

/// EER by bisection on 1 - x - interp(fpr, tpr)(x) (as scipy's brentq on the same function).
inline double eer(const std::vector<point>& r, double P, double N) {
  std::vector<double> x, yv;
  for (const auto& p : r) {
    x.push_back(p.fp / N);
    yv.push_back(p.tp / P);
  }
  double lo = 0, hi = 1;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    (1 - mid - interp(mid, x, yv) > 0 ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// The full-ROC segment where the ROC polyline crosses TAR = 1 - FAR: the first segment
/// r[i] -> r[i + 1] with h(r[i]) > 0 >= h(r[i + 1]), h = P*N*(1 - FAR - TAR) in counts (exact
/// in double at test sizes); h falls from P*N to -P*N along the curve, so there is one.
/// u is the fraction along the segment where h = 0.
struct eer_segment {
  point a, b;
  double u;
  std::size_t i;  // a = r[i]
};

inline eer_segment eer_crossing(const std::vector<point>& r, double P, double N) {
  auto h = [&](const point& p) { return P * N - p.fp * P - p.tp * N; };
  for (std::size_t i = 0; i + 1 < r.size(); ++i) {
    const double ha = h(r[i]), hb = h(r[i + 1]);
    if (ha > 0 && hb <= 0) return {r[i], r[i + 1], ha / (ha - hb), i};
  }
  return {r.back(), r.back(), 0, r.size() - 1};  // unreachable for a ROC with both classes
}

/// EER at the crossing: the FAR of the point at fraction u along the segment (exact for the
/// polyline, where the bisection of eer() is only close).
inline double eer_exact(const eer_segment& c, double N) {
  return (c.a.fp + c.u * (c.b.fp - c.a.fp)) / N;
}

/// The EER threshold interpolated linearly along the crossing segment at the same fraction
/// u, which is the fraction in FAR on a segment that is not vertical; when the segment starts
/// at the (0, 0, +inf) point there is nothing to interpolate, and its lower end is taken.
inline double eer_threshold(const eer_segment& c) {
  if (std::isinf(c.a.threshold)) return c.b.threshold;
  return c.a.threshold + c.u * (c.b.threshold - c.a.threshold);
}

struct tar_point {
  double tar, threshold, far;
};

inline tar_point at_most(const std::vector<point>& r, double P, double N, double target) {
  double best_tp = -1;
  for (const auto& p : r) {
    if (p.fp / N <= target) best_tp = std::max(best_tp, p.tp);
  }
  for (const auto& p : r) {  // the first (highest-threshold) point with that TP
    if (p.tp == best_tp && p.fp / N <= target) return {p.tp / P, p.threshold, p.fp / N};
  }
  return {-1, -1, -1};
}

inline tar_point nearest(const std::vector<point>& r, double P, double N, double target) {
  const auto d = drop_intermediate(r);
  std::size_t best = 0;
  double best_d = inf;
  for (std::size_t k = d.size(); k-- > 0;) {  // reversed order, first minimum
    const double dist = std::abs(d[k].fp / N - target);
    if (dist < best_d) {
      best_d = dist;
      best = k;
    }
  }
  return {d[best].tp / P, d[best].threshold, d[best].fp / N};
}

inline double interpolated(const std::vector<point>& r, double P, double N, double target) {
  std::vector<double> x, yv;
  for (const auto& p : r) {
    const double f = p.fp / N, t = p.tp / P;
    if (!x.empty() && x.back() == f) {
      yv.back() = std::max(yv.back(), t);
    } else {
      x.push_back(f);
      yv.push_back(t);
    }
  }
  return interp(target, x, yv);
}

}  // namespace ref
