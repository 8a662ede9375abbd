// unitsface metrics: spread of the per-identity optimal thresholds (UniTSFace, Figure 1).
//
// For each identity k: its genuine pairs are the pairs of two k samples, its impostor pairs
// the pairs of a k sample with a sample of another identity (cosine similarity of the
// embeddings). Its optimal threshold maximises the balanced accuracy (TAR + 1 - FAR) / 2 over
// k's pairs, accepting score >= threshold; among equal balanced accuracies the highest
// threshold. A unified threshold shows as a small spread of these thresholds.
//
// Computed identity by identity: the scores of k's samples against all samples are formed
// for k alone, so memory is O(n_k x n) in the exact mode, or O(bins) in the histogram mode
// (thresholds at bin edges, within one bin width of the exact ones), never the n x n scores.
// Time O(n^2 d) (each impostor pair is formed once for each of its two identities).
// Identities with a single sample (no genuine pair) or spanning the whole set (no impostor
// pair) are skipped and counted. An identity whose pairs no threshold separates better than
// chance (every threshold's balanced accuracy <= 1/2: its genuine scores are not above its
// impostor scores anywhere) has no optimal threshold: it is listed with separable = false,
// threshold +inf and deviation NaN, counted in `inseparable`, and left out of the statistics,
// which describe the separable identities (refused when there is none).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

struct threshold_spread_options {
  /// Global threshold to compare with (e.g. the learned b/s, or an EER threshold); NaN: none.
  double global_threshold = std::numeric_limits<double>::quiet_NaN();
  /// 0: exact (sort each identity's scores); > 0: that many bins over [-1, 1].
  index_t bins = 0;
};

struct identity_threshold {
  long long label = 0;
  index_t samples = 0;
  double threshold = 0;
  double balanced_accuracy = 0;
  double deviation = 0;   ///< threshold - global_threshold (NaN without a global threshold)
  bool separable = true;  ///< some threshold beats chance; else threshold +inf, deviation NaN
};

struct threshold_spread_result {
  std::vector<identity_threshold> identities;  ///< ascending label
  double mean = 0, std = 0, min = 0, max = 0;  ///< of the thresholds; std is population
  double global_threshold = std::numeric_limits<double>::quiet_NaN();
  double mean_abs_deviation = std::numeric_limits<double>::quiet_NaN();
  index_t skipped = 0;      ///< identities without genuine or impostor pairs
  index_t inseparable = 0;  ///< identities listed whose pairs no threshold separates
};

namespace detail {

/// Best balanced accuracy over thresholds at distinct scores, exact: maximises
/// tp/P - fp/N = (tp*N - fp*P) / (P*N) in integers; the walk goes down from the highest
/// score, so the first maximum is the highest threshold.
inline void best_balanced(std::vector<double>& gen, std::vector<double>& imp, double& threshold,
                          double& balanced) {
  std::sort(gen.begin(), gen.end(), std::greater<>());
  std::sort(imp.begin(), imp.end(), std::greater<>());
  const index_t P = index_t(gen.size()), N = index_t(imp.size());
  index_t tp = 0, fp = 0, best = 0;
  threshold = std::numeric_limits<double>::infinity();
  std::size_t g = 0, i = 0;
  while (g < gen.size() || i < imp.size()) {
    const double s = (i == imp.size() || (g < gen.size() && gen[g] >= imp[i])) ? gen[g] : imp[i];
    for (; g < gen.size() && gen[g] == s; ++g) ++tp;
    for (; i < imp.size() && imp[i] == s; ++i) ++fp;
    const index_t v = tp * N - fp * P;
    if (v > best) {
      best = v;
      threshold = s;
    }
  }
  balanced = 0.5 * (1.0 + double(best) / (double(P) * double(N)));
}

/// The same on histograms over [-1, 1): thresholds at bin lower edges.
inline void best_balanced_hist(const std::vector<index_t>& gen, const std::vector<index_t>& imp,
                               index_t P, index_t N, double& threshold, double& balanced) {
  const index_t B = index_t(gen.size());
  index_t tp = 0, fp = 0, best = 0;
  threshold = std::numeric_limits<double>::infinity();
  for (index_t b = B - 1; b >= 0; --b) {
    tp += gen[static_cast<std::size_t>(b)];
    fp += imp[static_cast<std::size_t>(b)];
    const index_t v = tp * N - fp * P;
    if (v > best) {
      best = v;
      threshold = -1.0 + 2.0 * double(b) / double(B);
    }
  }
  balanced = 0.5 * (1.0 + double(best) / (double(P) * double(N)));
}

}  // namespace detail

/// Per-identity optimal thresholds of embeddings (n x d, one row per sample) with integer
/// identity labels (n).
template <class E, class L>
threshold_spread_result threshold_spread(matrix_view<E> embeddings, vector_view<L> labels,
                                         const threshold_spread_options& options = {}) {
  const index_t n = embeddings.rows, d = embeddings.cols;
  detail::require(n >= 2 && d >= 1, "embeddings", "needs at least 2 rows and 1 column");
  detail::require_size("labels", labels.size(), n);
  detail::require(options.bins >= 0, "bins", "must be >= 0");
  std::vector<double> inv(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    double ss = 0;
    for (index_t c = 0; c < d; ++c) {
      const double x = double(embeddings(i, c));
      detail::require_finite_score(x, i, "embeddings");
      ss += x * x;
    }
    detail::require(ss > 0, "embeddings", "row " + std::to_string(i) + " has zero norm");
    inv[i] = 1.0 / std::sqrt(ss);
  }
  auto cosine = [&](index_t i, index_t j) {
    double dot = 0;
    for (index_t c = 0; c < d; ++c) dot += double(embeddings(i, c)) * double(embeddings(j, c));
    return dot * inv[i] * inv[j];
  };
  // Samples grouped by label.
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_t(0));
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
    return static_cast<long long>(labels[a]) < static_cast<long long>(labels[b]);
  });
  threshold_spread_result r;
  r.global_threshold = options.global_threshold;
  std::vector<double> gen, imp;
  std::vector<index_t> hg, hi;
  std::vector<char> member(static_cast<std::size_t>(n), 0);
  const index_t B = options.bins;
  auto bin = [&](double s) {
    const double x = std::floor((s + 1.0) * 0.5 * double(B));
    return static_cast<std::size_t>(std::clamp<double>(x, 0.0, double(B - 1)));
  };
  for (std::size_t a = 0; a < order.size();) {
    const long long label = static_cast<long long>(labels[order[a]]);
    std::size_t b = a;
    while (b < order.size() && static_cast<long long>(labels[order[b]]) == label) ++b;
    const index_t nk = index_t(b - a);
    if (nk < 2 || nk == n) {
      ++r.skipped;
      a = b;
      continue;
    }
    for (std::size_t m = a; m < b; ++m) member[order[m]] = 1;
    gen.clear();
    imp.clear();
    if (B > 0) {
      hg.assign(static_cast<std::size_t>(B), 0);
      hi.assign(static_cast<std::size_t>(B), 0);
    }
    for (std::size_t m = a; m < b; ++m) {
      const index_t i = order[m];
      for (index_t j = 0; j < n; ++j) {
        const bool genuine = member[j] != 0;
        if (j == i || (genuine && j < i)) continue;  // each genuine pair once
        const double s = cosine(i, j);
        if (B > 0) {
          ++(genuine ? hg : hi)[bin(s)];
        } else {
          (genuine ? gen : imp).push_back(s);
        }
      }
    }
    identity_threshold t;
    t.label = label;
    t.samples = nk;
    if (B > 0) {
      detail::best_balanced_hist(hg, hi, nk * (nk - 1) / 2, nk * (n - nk), t.threshold,
                                 t.balanced_accuracy);
    } else {
      detail::best_balanced(gen, imp, t.threshold, t.balanced_accuracy);
    }
    // best_balanced* leave threshold +inf (accept nothing) when no threshold beats chance
    // (tested on the threshold: a gain of one pair in P N may round away in the accuracy).
    t.separable = std::isfinite(t.threshold);
    t.deviation = t.separable ? t.threshold - options.global_threshold
                              : std::numeric_limits<double>::quiet_NaN();
    r.inseparable += t.separable ? 0 : 1;
    r.identities.push_back(t);
    for (std::size_t m = a; m < b; ++m) member[order[m]] = 0;
    a = b;
  }
  detail::require(!r.identities.empty(), "labels",
                  "no identity has both a genuine and an impostor pair");
  const index_t separable = index_t(r.identities.size()) - r.inseparable;
  detail::require(separable > 0, "embeddings",
                  "no identity's pairs are separated better than chance by any threshold");
  double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn, dev = 0;
  for (const auto& t : r.identities) {
    if (!t.separable) continue;
    sum += t.threshold;
    mn = std::min(mn, t.threshold);
    mx = std::max(mx, t.threshold);
    dev += std::abs(t.deviation);
  }
  const double k = double(separable);
  r.mean = sum / k;
  double var = 0;
  for (const auto& t : r.identities) {
    if (t.separable) var += (t.threshold - r.mean) * (t.threshold - r.mean);
  }
  r.std = std::sqrt(var / k);
  r.min = mn;
  r.max = mx;
  r.mean_abs_deviation = dev / k;
  return r;
}

}  // namespace unitsface::metrics
