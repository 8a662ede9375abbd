// unitsface metrics: 1:N identification, closed set (CMC, rank-k) and open set (TPIR@FPIR).
//
// Every probe is scanned once against the gallery, giving a probe_outcome: the rank of its
// first correct gallery entry (1 + entries scored higher + equal-scored entries earlier in
// the gallery, the convention of the reference vectors), and its best score over the gallery.
// The scan reads a probes x gallery similarity matrix, or computes cosine similarities from
// embeddings one probe row at a time (O(gallery) memory), so a MegaFace-sized gallery of a
// million distractors never needs a probes x gallery matrix.
//
// Gallery labels < 0 are distractors (never a mate). A probe is mated when some gallery entry
// shares its label.
//  - CMC at ranks 1..k: fraction of the mated probes whose first mate has rank <= r, as
//    IJB-C 1:N and NIST count it (a non-mated probe has no rank to count, so it is left out
//    of numerator and denominator alike); rank-1 accuracy is cmc[0]. Without any mated probe
//    the CMC is undefined and refused.
//  - Open set (IJB-C 1:N): FPIR(t) = non-mated probes whose best score >= t / non-mated
//    probes; TPIR(t) = mated probes whose rank-1 entry is a mate with score >= t / mated
//    probes. TPIR at an FPIR target uses the at-most rule: the largest TPIR with FPIR <=
//    target, ties to the highest threshold.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/sorted_scores.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

struct probe_outcome {
  index_t rank = 0;  ///< 1-based rank of the first mate; 0 when the gallery holds no mate
  double top_score = -std::numeric_limits<double>::infinity();  ///< best gallery score
  bool mated = false;
};

struct tpir_at_fpir_result {
  double target = 0;     ///< FPIR asked for
  double tpir = 0;       ///< rank-1 detection and identification rate
  double threshold = 0;  ///< accept when the best score >= threshold; +inf: none
  double fpir = 0;       ///< FPIR achieved
};

namespace detail {

/// Sorted (label, gallery index) pairs, to find a probe's mates without a hash map.
template <class LG>
std::vector<std::pair<long long, index_t>> gallery_index(vector_view<LG> gallery_labels) {
  std::vector<std::pair<long long, index_t>> idx;
  for (index_t j = 0; j < gallery_labels.size(); ++j) {
    const auto l = static_cast<long long>(gallery_labels[j]);
    if (l >= 0) idx.emplace_back(l, j);
  }
  std::sort(idx.begin(), idx.end());
  return idx;
}

/// One probe: mates found through the index; score(j) gives its similarity to entry j.
template <class Score>
probe_outcome scan_probe(Score&& score, index_t G, long long label,
                         const std::vector<std::pair<long long, index_t>>& idx,
                         std::string_view name) {
  probe_outcome o;
  auto range = std::equal_range(idx.begin(), idx.end(), std::pair<long long, index_t>(label, 0),
                                [](const auto& a, const auto& b) { return a.first < b.first; });
  index_t m = -1;
  double sm = -std::numeric_limits<double>::infinity();
  for (auto it = range.first; it != range.second; ++it) {
    const double s = score(it->second);
    if (m < 0 || s > sm || (s == sm && it->second < m)) {
      sm = s;
      m = it->second;
    }
  }
  o.mated = m >= 0;
  index_t above = 0;
  for (index_t j = 0; j < G; ++j) {
    const double s = score(j);
    if (std::isnan(s)) throw invalid_argument(name, "similarity is NaN");
    o.top_score = std::max(o.top_score, s);
    if (o.mated) above += (s > sm) || (s == sm && j < m);
  }
  o.rank = o.mated ? above + 1 : 0;
  return o;
}

template <class LP>
void require_label_sizes(vector_view<LP> probe_labels, index_t P, index_t G,
                         index_t gallery_labels_size) {
  require(P > 0, "probe_labels", "no probe");
  require(G > 0, "gallery_labels", "empty gallery");
  require_size("probe_labels", probe_labels.size(), P);
  require_size("gallery_labels", gallery_labels_size, G);
}

}  // namespace detail

/// Scans a probes x gallery similarity matrix (higher = more similar).
template <class S, class LP, class LG>
std::vector<probe_outcome> identify(matrix_view<S> similarity, vector_view<LP> probe_labels,
                                    vector_view<LG> gallery_labels) {
  const index_t P = similarity.rows, G = similarity.cols;
  detail::require_label_sizes(probe_labels, P, G, gallery_labels.size());
  const auto idx = detail::gallery_index(gallery_labels);
  std::vector<probe_outcome> out(static_cast<std::size_t>(P));
  for (index_t i = 0; i < P; ++i) {
    auto row = [&](index_t j) { return static_cast<double>(similarity(i, j)); };
    out[i] = detail::scan_probe(row, G, static_cast<long long>(probe_labels[i]), idx, "similarity");
  }
  return out;
}

/// Scans probe embeddings (P x D) against gallery embeddings (G x D) by cosine similarity,
/// computing the similarities of one probe at a time against the gallery (extra memory
/// O(P + G) for the inverse norms), never the P x G matrix.
template <class E, class LP, class LG>
std::vector<probe_outcome> identify(matrix_view<E> probes, matrix_view<E> gallery,
                                    vector_view<LP> probe_labels, vector_view<LG> gallery_labels) {
  const index_t P = probes.rows, G = gallery.rows, D = probes.cols;
  detail::require_label_sizes(probe_labels, P, G, gallery_labels.size());
  detail::require(D > 0 && gallery.cols == D, "gallery", "must have as many columns as probes");
  auto inv_norms = [&](matrix_view<E> m, const char* name) {
    std::vector<double> inv(static_cast<std::size_t>(m.rows));
    for (index_t i = 0; i < m.rows; ++i) {
      double ss = 0;
      for (index_t c = 0; c < D; ++c) {
        const double x = double(m(i, c));
        detail::require_finite_score(x, i, name);
        ss += x * x;
      }
      detail::require(ss > 0, name, "row " + std::to_string(i) + " has zero norm");
      inv[i] = 1.0 / std::sqrt(ss);
    }
    return inv;
  };
  const auto ip = inv_norms(probes, "probes");
  const auto ig = inv_norms(gallery, "gallery");
  const auto idx = detail::gallery_index(gallery_labels);
  std::vector<double> row(static_cast<std::size_t>(G));
  std::vector<probe_outcome> out(static_cast<std::size_t>(P));
  for (index_t i = 0; i < P; ++i) {
    for (index_t j = 0; j < G; ++j) {
      double dot = 0;
      for (index_t c = 0; c < D; ++c) dot += double(probes(i, c)) * double(gallery(j, c));
      row[j] = dot * ip[i] * ig[j];
    }
    auto score = [&](index_t j) { return row[j]; };
    out[i] = detail::scan_probe(score, G, static_cast<long long>(probe_labels[i]), idx, "probes");
  }
  return out;
}

/// CMC at ranks 1..max_rank: cmc[r - 1] = fraction of the mated probes whose first mate has
/// rank <= r.
inline std::vector<double> cmc_curve(const std::vector<probe_outcome>& outcomes, index_t max_rank) {
  detail::require(!outcomes.empty(), "outcomes", "no probe");
  detail::require(max_rank >= 1, "max_rank", "must be >= 1");
  std::vector<index_t> count(static_cast<std::size_t>(max_rank) + 1, 0);
  index_t mated = 0;
  for (const auto& o : outcomes) {
    mated += o.mated ? 1 : 0;
    if (o.rank >= 1 && o.rank <= max_rank) ++count[static_cast<std::size_t>(o.rank)];
  }
  detail::require(mated > 0, "outcomes",
                  "no mated probe (no probe's identity is in the gallery): the CMC is undefined");
  std::vector<double> cmc(static_cast<std::size_t>(max_rank));
  index_t found = 0;
  for (index_t r = 1; r <= max_rank; ++r) {
    found += count[static_cast<std::size_t>(r)];
    cmc[static_cast<std::size_t>(r - 1)] = double(found) / double(mated);
  }
  return cmc;
}

template <class S, class LP, class LG>
std::vector<double> cmc_curve(matrix_view<S> similarity, vector_view<LP> probe_labels,
                              vector_view<LG> gallery_labels, index_t max_rank) {
  detail::require(max_rank >= 1, "max_rank", "must be >= 1");
  return cmc_curve(identify(similarity, probe_labels, gallery_labels), max_rank);
}

/// Rank-k identification accuracy (cmc[k - 1]).
inline double rank_k_accuracy(const std::vector<probe_outcome>& outcomes, index_t k) {
  return cmc_curve(outcomes, k).back();
}

/// Open-set TPIR at each FPIR target (in (0, 1]), at-most rule.
inline std::vector<tpir_at_fpir_result> tpir_at_fpir(const std::vector<probe_outcome>& outcomes,
                                                     const std::vector<double>& fpir_targets) {
  detail::require_far_targets(fpir_targets, "fpir_targets");
  std::vector<double> scores;
  std::vector<unsigned char> hit;  // 1: mated and right at rank 1; 0: non-mated
  index_t mated = 0, nonmated = 0;
  for (const auto& o : outcomes) {
    if (o.mated) {
      ++mated;
      if (o.rank == 1) {
        scores.push_back(o.top_score);
        hit.push_back(1);
      }
    } else {
      ++nonmated;
      scores.push_back(o.top_score);
      hit.push_back(0);
    }
  }
  detail::require(mated > 0, "outcomes", "no mated probe: TPIR is undefined");
  detail::require(nonmated > 0, "outcomes", "no non-mated probe: FPIR is undefined");
  std::vector<tpir_at_fpir_result> out;
  if (index_t(scores.size()) == nonmated) {  // no rank-1 hit at all: TPIR 0 everywhere
    for (double t : fpir_targets) out.push_back({t, 0.0, detail::inf, 0.0});
    return out;
  }
  const sorted_scores<double> s(vector_view<const double>(scores.data(), index_t(scores.size())),
                                vector_view<const unsigned char>(hit.data(), index_t(hit.size())));
  detail::at_most_accumulator acc{mated, nonmated, fpir_targets};  // TPIR over all mated probes
  s.walk([&](index_t fp, index_t tp, double t) { acc.push({fp, tp, t}); });
  for (const auto& r : acc.results()) out.push_back({r.target, r.tar, r.threshold, r.far});
  return out;
}

}  // namespace unitsface::metrics
