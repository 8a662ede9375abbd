// unitsface protocols: IJB-C 1:1 template verification from image features.
//
// Template pooling as insightface's IJB evaluation does it on its plain path
// (`image2template_feature` in recognition/_evaluation_/ijb/ijb_11.py, the same in
// ijb_evals.py): no flip test, no detector-score weighting, image features NOT normalised before
// pooling. Within a template the rows are grouped by media id (a media id used by two
// templates is two separate media; a template's rows need not be contiguous); a media's
// feature is the mean of its rows, the template's the sum of its media features,
// L2-normalised. A pair's score is the dot product of its two template features, computed on
// the policy (one thread of the backend per pair), and the scores are summarised exactly
// (metrics::summarize_verification: AUC, EER, TAR@FAR under the three rules).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/verification.hpp"

namespace unitsface::protocols {

/// The pooled templates: ids sorted ascending, features (one L2-normalised row per id).
struct templates {
  std::vector<long long> ids;
  std::vector<double> features;  ///< ids.size() x dim, row-major
  index_t dim = 0;
  matrix_view<const double> view() const {
    return matrix_view<const double>(features.data(), index_t(ids.size()), dim);
  }
  /// The row of template `id`; -1 when there is none.
  index_t find(long long id) const {
    const auto it = std::lower_bound(ids.begin(), ids.end(), id);
    return it != ids.end() && *it == id ? index_t(it - ids.begin()) : -1;
  }
};

/// Pools image features (N x D, host) into template features: media mean, template sum,
/// L2 normalisation. `template_ids` and `media_ids` hold one id per row.
template <class E, class LT, class LM>
templates pool_templates(matrix_view<E> features, vector_view<LT> template_ids,
                         vector_view<LM> media_ids) {
  using unitsface::detail::require;
  const index_t N = features.rows, D = features.cols;
  require(N > 0, "features", "has no row");
  require(D > 0, "features", "has no column");
  unitsface::detail::require_size("template_ids", template_ids.size(), N);
  unitsface::detail::require_size("media_ids", media_ids.size(), N);
  // Rows ordered by (template, media, row): each template's media are then runs.
  std::vector<index_t> order(static_cast<std::size_t>(N));
  for (index_t i = 0; i < N; ++i) order[std::size_t(i)] = i;
  auto key = [&](index_t i) {
    return std::pair<long long, long long>(static_cast<long long>(template_ids[i]),
                                           static_cast<long long>(media_ids[i]));
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](index_t a, index_t b) { return key(a) < key(b); });
  templates t;
  t.dim = D;
  std::vector<double> media(static_cast<std::size_t>(D)), acc(static_cast<std::size_t>(D));
  std::size_t k = 0;
  while (k < order.size()) {
    const long long tid = key(order[k]).first;
    std::fill(acc.begin(), acc.end(), 0.0);
    while (k < order.size() && key(order[k]).first == tid) {
      const long long mid = key(order[k]).second;
      std::fill(media.begin(), media.end(), 0.0);
      index_t rows = 0;
      while (k < order.size() && key(order[k]) == std::pair<long long, long long>(tid, mid)) {
        const index_t i = order[k++];
        for (index_t c = 0; c < D; ++c) {
          const double x = static_cast<double>(features(i, c));
          if (!std::isfinite(x)) {
            throw invalid_argument("features", "row " + std::to_string(i) + " column " +
                                                   std::to_string(c) + " is not finite");
          }
          media[std::size_t(c)] += x;
        }
        ++rows;
      }
      for (index_t c = 0; c < D; ++c) acc[std::size_t(c)] += media[std::size_t(c)] / double(rows);
    }
    double ss = 0;
    for (double x : acc) ss += x * x;
    require(
        ss > 0, "features",
        "template " + std::to_string(tid) + " pools to a zero feature (it cannot be normalised)");
    const double n = std::sqrt(ss);
    t.ids.push_back(tid);
    for (double x : acc) t.features.push_back(x / n);
  }
  return t;
}

namespace detail {

/// scores[k] = <f_{a[k]}, f_{b[k]}> on the policy, one pair per index.
template <class T>
struct pair_dot {
  matrix_view<const T> f;
  const index_t* a;
  const index_t* b;
  T* scores;
  UNITSFACE_HD void operator()(index_t k) const {
    T s = T(0);
    for (index_t c = 0; c < f.cols; ++c) s += f(a[k], c) * f(b[k], c);
    scores[k] = s;
  }
};

}  // namespace detail

struct ijbc_1to1_result {
  templates pooled;
  std::vector<double> scores;  ///< one per pair, in pair order
  metrics::verification_summary summary;
};

/// IJB-C 1:1: pools the templates, scores the pairs (first[k], second[k]) of template ids on
/// `pol` in precision T, and summarises them against `pair_labels` (1 genuine, 0 impostor).
template <class T, class Policy, class E, class LT, class LM, class LP, class L>
ijbc_1to1_result ijbc_1to1(const Policy& pol, matrix_view<E> features, vector_view<LT> template_ids,
                           vector_view<LM> media_ids, vector_view<LP> first, vector_view<LP> second,
                           vector_view<L> pair_labels,
                           const metrics::verification_options& options = {}) {
  using unitsface::detail::require;
  ijbc_1to1_result r;
  r.pooled = pool_templates(features, template_ids, media_ids);
  const index_t P = first.size(), M = index_t(r.pooled.ids.size()), D = r.pooled.dim;
  require(P > 0, "pairs", "no pair");
  unitsface::detail::require_size("pairs (second column)", second.size(), P);
  unitsface::detail::require_size("pair_labels", pair_labels.size(), P);
  std::vector<index_t> a(static_cast<std::size_t>(P)), b(static_cast<std::size_t>(P));
  for (index_t k = 0; k < P; ++k) {
    const long long ids[2] = {static_cast<long long>(first[k]), static_cast<long long>(second[k])};
    index_t* dst[2] = {&a[std::size_t(k)], &b[std::size_t(k)]};
    for (int s = 0; s < 2; ++s) {
      *dst[s] = r.pooled.find(ids[s]);
      require(*dst[s] >= 0, "pairs",
              "pair " + std::to_string(k) + " names template " + std::to_string(ids[s]) +
                  ", which has no feature row");
    }
  }
  std::vector<T> fh(r.pooled.features.begin(), r.pooled.features.end());
  auto f = backends::make_buffer<T>(pol, M * D);
  auto da = backends::make_buffer<index_t>(pol, P);
  auto db = backends::make_buffer<index_t>(pol, P);
  auto ds = backends::make_buffer<T>(pol, P);
  backends::copy_from_host(pol, fh.data(), M * D, backends::data_ptr(f));
  backends::copy_from_host(pol, a.data(), P, backends::data_ptr(da));
  backends::copy_from_host(pol, b.data(), P, backends::data_ptr(db));
  backends::for_each_index(
      pol, P,
      detail::pair_dot<T>{matrix_view<const T>(backends::data_ptr(f), M, D), backends::data_ptr(da),
                          backends::data_ptr(db), backends::data_ptr(ds)});
  std::vector<T> sh(static_cast<std::size_t>(P));
  backends::copy_to_host(pol, backends::data_ptr(ds), P, sh.data());
  r.scores.assign(sh.begin(), sh.end());
  r.summary = metrics::summarize_verification(vector_view<const double>(r.scores.data(), P),
                                              pair_labels, options);
  return r;
}

}  // namespace unitsface::protocols
