// unitsface metrics: k-fold best-threshold verification accuracy (LFW / CFP-FP / AgeDB).
//
// Protocol (insightface `eval/verification.py`, `calculate_roc`): the pairs are split into k
// contiguous folds in input order (scikit-learn KFold without shuffling: the first n mod k
// folds hold one pair more). For each fold, the threshold of best accuracy on the other k-1
// folds is applied to the fold itself. Reported: per-fold accuracy and threshold, their mean
// and population standard deviation (numpy's summation order, so the insightface mode
// reproduces insightface's numbers bit for bit).
//
// Modes:
//  - exact: similarity scores, accept when score >= t, t over every distinct training score
//    (and +inf, accept none); ties in accuracy go to the highest threshold.
//  - insightface: squared L2 distance d^2 = 2 - 2 cos of normalised embeddings, same when
//    d^2 < t, t over the grid 0, 0.01, ..., 3.99 (numpy.arange(0, 4, 0.01)), first best
//    (the smallest distance threshold). Thresholds are reported as distances.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/conversions.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

enum class kfold_mode { exact, insightface };

struct kfold_options {
  index_t folds = 10;
  kfold_mode mode = kfold_mode::exact;
};

struct kfold_result {
  std::vector<double> fold_accuracy;
  std::vector<double> fold_threshold;  ///< similarity (exact) or squared distance (insightface)
  double accuracy_mean = 0;
  double accuracy_std = 0;  ///< population standard deviation
};

namespace detail {

/// numpy's pairwise summation (add.reduce on a contiguous float64 array).
inline double numpy_sum(const double* a, index_t n) {
  if (n < 8) {
    double r = 0.0;
    for (index_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    index_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  index_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_sum(a, n2) + numpy_sum(a + n2, n - n2);
}

inline void mean_and_std(kfold_result& r) {
  const index_t k = index_t(r.fold_accuracy.size());
  r.accuracy_mean = numpy_sum(r.fold_accuracy.data(), k) / double(k);
  std::vector<double> sq(r.fold_accuracy.size());
  for (std::size_t i = 0; i < sq.size(); ++i) {
    const double d = r.fold_accuracy[i] - r.accuracy_mean;
    sq[i] = d * d;
  }
  r.accuracy_std = std::sqrt(numpy_sum(sq.data(), k) / double(k));
}

/// Fold boundaries as scikit-learn's KFold(n_splits=k, shuffle=False).
inline std::vector<index_t> fold_starts(index_t n, index_t k) {
  require(k >= 2, "folds", "needs at least 2 folds, got " + std::to_string(k));
  require(k <= n, "folds",
          "more folds (" + std::to_string(k) + ") than pairs (" + std::to_string(n) + ")");
  std::vector<index_t> start(static_cast<std::size_t>(k + 1), 0);
  for (index_t f = 0; f < k; ++f) start[f + 1] = start[f] + n / k + (f < n % k ? 1 : 0);
  return start;
}

/// Exact mode on similarity scores (double) and 0/1 labels.
inline kfold_result kfold_exact(const std::vector<double>& score, const std::vector<char>& same,
                                index_t k) {
  const index_t n = index_t(score.size());
  const auto start = fold_starts(n, k);
  std::vector<index_t> order(score.size());
  std::iota(order.begin(), order.end(), index_t(0));
  // Descending scores; the order among equal scores does not matter (they move together).
  std::sort(order.begin(), order.end(), [&](index_t a, index_t b) { return score[a] > score[b]; });
  kfold_result r;
  for (index_t f = 0; f < k; ++f) {
    const index_t lo = start[f], hi = start[f + 1];
    // Walk training pairs by descending score. accuracy(t) * n_train = tp + (imp - fp), so
    // the best threshold maximises tp - fp; the first maximum is the highest threshold.
    index_t gain = 0, best_gain = 0;
    double best_t = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < order.size();) {
      const double s = score[order[i]];
      for (; i < order.size() && score[order[i]] == s; ++i) {
        const index_t j = order[i];
        if (j >= lo && j < hi) continue;
        gain += same[j] ? 1 : -1;
      }
      if (gain > best_gain) {
        best_gain = gain;
        best_t = s;
      }
    }
    index_t correct = 0;
    for (index_t j = lo; j < hi; ++j) correct += ((score[j] >= best_t) == bool(same[j]));
    r.fold_accuracy.push_back(double(correct) / double(hi - lo));
    r.fold_threshold.push_back(best_t);
  }
  mean_and_std(r);
  return r;
}

/// insightface mode on squared distances.
inline kfold_result kfold_insightface(const std::vector<double>& dist,
                                      const std::vector<char>& same, index_t k) {
  const index_t n = index_t(dist.size());
  const auto start = fold_starts(n, k);
  constexpr int grid = 400;
  double t[grid];
  for (int i = 0; i < grid; ++i) t[i] = double(i) * 0.01;  // numpy.arange(0, 4, 0.01)
  // first[j]: the first grid index whose threshold accepts pair j (d < t), grid if none.
  std::vector<short> first(dist.size());
  for (std::size_t j = 0; j < dist.size(); ++j) {
    first[j] = short(std::upper_bound(t, t + grid, dist[j]) - t);
  }
  // Accepted counts per grid index, per class, over all pairs and per fold.
  auto accepted = [&](index_t lo, index_t hi, std::vector<index_t>& g, std::vector<index_t>& im) {
    g.assign(grid + 1, 0);
    im.assign(grid + 1, 0);
    for (index_t j = lo; j < hi; ++j) ++(same[j] ? g : im)[first[j]];
    for (int i = 1; i <= grid; ++i) {
      g[i] += g[i - 1];
      im[i] += im[i - 1];
    }
  };
  std::vector<index_t> all_g, all_i, fg, fi;
  accepted(0, n, all_g, all_i);
  kfold_result r;
  for (index_t f = 0; f < k; ++f) {
    const index_t lo = start[f], hi = start[f + 1];
    accepted(lo, hi, fg, fi);
    const index_t train_imp = (n - (hi - lo)) - (all_g[grid] - fg[grid]);
    // correct(i) = tp(i) + (imp - fp(i)) on the training folds; first maximum.
    int best = 0;
    index_t best_correct = -1;
    for (int i = 0; i < grid; ++i) {
      const index_t tp = all_g[i] - fg[i], fp = all_i[i] - fi[i];
      const index_t correct = tp + train_imp - fp;
      if (correct > best_correct) {
        best_correct = correct;
        best = i;
      }
    }
    const index_t test_imp = (hi - lo) - fg[grid];
    const index_t correct = fg[best] + test_imp - fi[best];
    r.fold_accuracy.push_back(double(correct) / double(hi - lo));
    r.fold_threshold.push_back(t[best]);
  }
  mean_and_std(r);
  return r;
}

template <class L>
std::vector<char> read_labels(vector_view<L> labels, std::string_view name) {
  std::vector<char> same(static_cast<std::size_t>(labels.size()));
  for (index_t i = 0; i < labels.size(); ++i) same[i] = genuine_label(labels[i], i, name);
  return same;
}

}  // namespace detail

/// k-fold accuracy from similarity scores (cosine) and labels (1 = same identity). In the
/// insightface mode the scores are turned into squared distances 2 - 2 cos.
template <class S, class L>
kfold_result kfold_accuracy(vector_view<S> scores, vector_view<L> labels,
                            const kfold_options& options = {}) {
  const index_t n = scores.size();
  detail::require_size("labels", labels.size(), n);
  detail::require(n > 0, "scores", "the score set is empty");
  auto same = detail::read_labels(labels, "labels");
  std::vector<double> v(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    detail::require_finite_score(scores[i], i, "scores");
    v[i] = double(scores[i]);
    if (options.mode == kfold_mode::insightface) v[i] = cos_to_squared_l2(v[i]);
  }
  detail::fold_starts(n, options.folds);  // validates folds before any work
  return options.mode == kfold_mode::exact ? detail::kfold_exact(v, same, options.folds)
                                           : detail::kfold_insightface(v, same, options.folds);
}

/// k-fold accuracy from two embedding lists (pair i = row i of each) and `issame`. Rows are
/// L2-normalised in double; exact mode scores pairs by cosine similarity, insightface mode by
/// the squared distance of the normalised rows, as insightface computes it.
template <class E, class L>
kfold_result kfold_accuracy(matrix_view<E> embeddings1, matrix_view<E> embeddings2,
                            vector_view<L> issame, const kfold_options& options = {}) {
  const index_t n = embeddings1.rows, d = embeddings1.cols;
  detail::require(n > 0 && d > 0, "embeddings1", "is empty");
  detail::require_shape("embeddings2", embeddings2.rows, embeddings2.cols, n, d);
  detail::require_size("issame", issame.size(), n);
  auto same = detail::read_labels(issame, "issame");
  detail::fold_starts(n, options.folds);
  std::vector<double> v(static_cast<std::size_t>(n)), a(static_cast<std::size_t>(d)),
      b(static_cast<std::size_t>(d));
  auto normalised = [&](matrix_view<E> m, index_t i, std::vector<double>& out, const char* name) {
    double ss = 0;
    for (index_t c = 0; c < d; ++c) {
      out[c] = double(m(i, c));
      detail::require_finite_score(out[c], i, name);
      ss += out[c] * out[c];
    }
    detail::require(ss > 0, name, "row " + std::to_string(i) + " has zero norm");
    const double norm = std::sqrt(ss);
    for (auto& x : out) x /= norm;
  };
  for (index_t i = 0; i < n; ++i) {
    normalised(embeddings1, i, a, "embeddings1");
    normalised(embeddings2, i, b, "embeddings2");
    double acc = 0;
    for (index_t c = 0; c < d; ++c) {
      if (options.mode == kfold_mode::insightface) {
        const double diff = a[c] - b[c];
        acc += diff * diff;
      } else {
        acc += a[c] * b[c];
      }
    }
    v[i] = acc;
  }
  return options.mode == kfold_mode::exact ? detail::kfold_exact(v, same, options.folds)
                                           : detail::kfold_insightface(v, same, options.folds);
}

}  // namespace unitsface::metrics
