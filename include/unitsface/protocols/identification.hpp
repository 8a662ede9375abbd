// unitsface protocols: open-set 1:N identification from embeddings (IJB-C 1:N, NIST FRVT).
//
// Every distinct gallery label is one identity, which may own several rows; an identity's
// score for a probe is the maximum over its rows. A probe is mated when its label is in the
// gallery. Rank of a mated probe = 1 + the number of OTHER identities whose score is >= the
// true identity's (ties ranked above: pessimistic). Reported:
//  - CMC at ranks 1..max_rank over the mated probes (as IJB-C 1:N and NIST count it), and the
//    same counts over all probes (cmc_all_probes, what a closed-set tool that keeps non-mated
//    probes in the denominator reports);
//  - TPIR at FPIR: the threshold is the lowest top-1 score t of a non-mated probe such that
//    (non-mated probes with top-1 score >= t) / non-mated <= FPIR (equality qualifies), +inf
//    when there is none; FPIR is that fraction; TPIR = (mated probes of rank 1 whose true
//    identity's score >= threshold) / mated. (insightface's `evaluation_1N` takes the
//    floor(n * FPIR)-th highest non-mated score and counts scores > threshold: the same numbers
//    except at ties and where n * FPIR < 1.) Without a non-mated probe FPIR is undefined and
//    tpir_at_fpir is left empty.
//
// The similarities come tile by tile from the backend's product (similarity_tiles.hpp) and are
// reduced as each tile arrives: per probe the true identity's score, the top-1 score and the
// max_rank best other identities (an identity evicted from that list can never return to it,
// since the list's scores only rise), so memory is O(probes x max_rank + tile), never
// probes x gallery. The tile's rows (probes) are shared out among the host's threads; the true
// identity's columns come from the gallery's label groups, and the others are read in chunks
// of 256 whose maximum alone decides whether any of them can enter the list.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/identification.hpp"
#include "unitsface/metrics/validation.hpp"
#include "unitsface/protocols/similarity_tiles.hpp"

namespace unitsface::protocols {

struct tpir_at_fpir_point {
  double target = 0;  ///< FPIR asked for
  double tpir = 0;
  double threshold = std::numeric_limits<double>::infinity();  ///< +inf: no threshold qualifies
  double fpir = 0;                                             ///< FPIR achieved
};

struct open_set_result {
  index_t mated = 0, nonmated = 0;
  std::vector<double> cmc;             ///< ranks 1..max_rank, over the mated probes
  std::vector<double> cmc_all_probes;  ///< the same counts over all probes
  std::vector<tpir_at_fpir_point> tpir_at_fpir;
  /// Per probe: rank 1..max_rank, max_rank + 1 (beyond the CMC), 0 (non-mated); its best score
  /// over the gallery; whether it is mated.
  std::vector<metrics::probe_outcome> outcomes;
  std::vector<double> true_score;  ///< per mated probe: its identity's score (-inf otherwise)
};

struct open_set_options {
  index_t max_rank = 10;
  std::vector<double> fpir_targets{0.01, 0.1};
  tile_options tiles;
};

namespace detail {

inline constexpr double minus_inf = -std::numeric_limits<double>::infinity();

/// The best `k` other identities of one probe (score, label), their lowest score tracked.
struct best_others {
  double* score;
  long long* label;
  index_t k;
  index_t n = 0;
  double floor = minus_inf;  // lowest score held once the list is full
  void offer(double s, long long l) {
    if (n == k && s <= floor) return;
    for (index_t e = 0; e < n; ++e) {
      if (label[e] == l) {
        if (s > score[e]) {
          score[e] = s;
          if (n == k) refresh();
        }
        return;
      }
    }
    if (n < k) {
      score[n] = s;
      label[n] = l;
      if (++n == k) refresh();
      return;
    }
    index_t lowest = 0;
    for (index_t e = 1; e < n; ++e)
      if (score[e] < score[lowest]) lowest = e;
    score[lowest] = s;
    label[lowest] = l;
    refresh();
  }
  void refresh() {
    floor = score[0];
    for (index_t e = 1; e < n; ++e) floor = std::min(floor, score[e]);
  }
};

template <class L>
std::vector<long long> labels_of(vector_view<L> v, const char* name) {
  std::vector<long long> out(static_cast<std::size_t>(v.size()));
  for (index_t i = 0; i < v.size(); ++i) {
    out[std::size_t(i)] = static_cast<long long>(v[i]);
    require(out[std::size_t(i)] >= 0, name,
            "labels must be >= 0 (every distinct label is one identity), got " +
                std::to_string(out[std::size_t(i)]) + " at index " + std::to_string(i));
  }
  return out;
}

inline void require_targets(const std::vector<double>& targets, const char* name) {
  metrics::detail::require_far_targets(targets, name);
}

}  // namespace detail

/// Open-set 1:N of probes (Q x D) against a gallery (G x D), both host memory, similarities
/// computed on `pol` in precision T.
template <class T, class Policy, class E, class LG, class LP>
open_set_result identification_1toN(const Policy& pol, matrix_view<E> gallery,
                                    vector_view<LG> gallery_labels, matrix_view<E> probes,
                                    vector_view<LP> probe_labels, const open_set_options& o = {}) {
  using unitsface::detail::require;
  require(o.max_rank >= 1, "max_rank", "must be >= 1");
  detail::require_targets(o.fpir_targets, "fpir_targets");
  unitsface::detail::require_size("gallery_labels", gallery_labels.size(), gallery.rows);
  unitsface::detail::require_size("probe_labels", probe_labels.size(), probes.rows);
  const auto gl = detail::labels_of(gallery_labels, "gallery_labels");
  const auto pl = detail::labels_of(probe_labels, "probe_labels");
  const unit_rows<T, Policy> g(pol, gallery, "gallery");
  const unit_rows<T, Policy> p(pol, probes, "probes");
  require(g.cols() == p.cols(), "probes",
          "has " + std::to_string(p.cols()) + " columns, the gallery " + std::to_string(g.cols()));
  const index_t Q = p.rows(), K = o.max_rank;
  const detail::label_groups groups(gl);

  open_set_result r;
  r.true_score.assign(std::size_t(Q), detail::minus_inf);
  r.outcomes.assign(std::size_t(Q), metrics::probe_outcome{});
  std::vector<double> other_score(std::size_t(Q * K));
  std::vector<long long> other_label(std::size_t(Q * K));
  std::vector<detail::best_others> best;
  best.reserve(std::size_t(Q));
  for (index_t i = 0; i < Q; ++i)
    best.push_back({other_score.data() + i * K, other_label.data() + i * K, K});
  // Each probe's state is its own (rows are probes): the shares need no state of their own.
  std::vector<char> shares(std::size_t(detail::row_shares(o.tiles)));
  for_each_similarity_row(
      pol, p, g, shares,
      [&](char&, index_t i, index_t j0, const T* row, index_t cols) {
        const long long label = pl[std::size_t(i)];
        // The true identity's rows of this tile, from the gallery's groups.
        const auto [first, last] = groups.rows(label);
        double truth = r.true_score[std::size_t(i)];
        for (const index_t* t = std::lower_bound(first, last, j0); t != last && *t < j0 + cols; ++t)
          truth = std::max(truth, static_cast<double>(row[*t - j0]));
        r.true_score[std::size_t(i)] = truth;
        // The others: a chunk whose best score cannot enter the list (all but a few once it
        // is full) costs one vectorised maximum.
        auto& b = best[std::size_t(i)];
        const double top = detail::for_each_chunk_above(
            row, cols, [&] { return b.floor; },
            [&](index_t c) {
              const double s = static_cast<double>(row[c]);
              const long long l = gl[std::size_t(j0 + c)];
              if (s > b.floor && l != label) b.offer(s, l);
            });
        auto& out = r.outcomes[std::size_t(i)];
        out.top_score = std::max(out.top_score, top);
      },
      o.tiles);

  std::vector<double> nonmated_top;
  for (index_t i = 0; i < Q; ++i) {
    auto& out = r.outcomes[std::size_t(i)];
    out.mated = groups.has(pl[std::size_t(i)]);
    if (!out.mated) {
      ++r.nonmated;
      nonmated_top.push_back(out.top_score);
      continue;
    }
    ++r.mated;
    const auto& b = best[std::size_t(i)];
    index_t above = 0;
    for (index_t e = 0; e < b.n; ++e) above += b.score[e] >= r.true_score[std::size_t(i)];
    out.rank = above + 1;  // K + 1 when all K listed identities are above
  }
  require(r.mated > 0, "probe_labels",
          "no mated probe (no probe's identity is in the gallery): the CMC is undefined");
  r.cmc = metrics::cmc_curve(r.outcomes, K);
  for (double c : r.cmc) r.cmc_all_probes.push_back(c * double(r.mated) / double(Q));

  // Without a non-mated probe FPIR is undefined: tpir_at_fpir stays empty.
  std::sort(nonmated_top.begin(), nonmated_top.end(), std::greater<>());
  for (double target : r.nonmated > 0 ? o.fpir_targets : std::vector<double>{}) {
    tpir_at_fpir_point pt;
    pt.target = target;
    // Walk the distinct non-mated top scores downwards; the last that qualifies is the lowest.
    for (std::size_t k = 0; k < nonmated_top.size();) {
      std::size_t e = k;
      while (e < nonmated_top.size() && nonmated_top[e] == nonmated_top[k]) ++e;
      const double fpir = double(e) / double(r.nonmated);
      if (!(fpir <= target)) break;
      pt.threshold = nonmated_top[k];
      pt.fpir = fpir;
      k = e;
    }
    index_t hits = 0;
    for (index_t i = 0; i < Q; ++i)
      hits += r.outcomes[std::size_t(i)].rank == 1 && r.true_score[std::size_t(i)] >= pt.threshold;
    pt.tpir = double(hits) / double(r.mated);
    r.tpir_at_fpir.push_back(pt);
  }
  return r;
}

}  // namespace unitsface::protocols
