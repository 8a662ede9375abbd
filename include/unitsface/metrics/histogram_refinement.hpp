// unitsface metrics: exact at-most TAR@FAR from a score_histogram and a second pass over the
// scores that keeps only those of a few bins.
//
// For a target f over N impostors, let F be the largest count with F / N <= f and c the
// (F + 1)-th highest impostor score (c = -inf when F >= N). Thresholds above c are exactly the
// ones with FAR <= f, so the at-most rule's point is the lowest genuine score t > c: TAR = the
// genuine share >= t, FAR = the impostor share >= t, threshold t (the highest threshold of that
// TAR); without a genuine score above c, TAR 0 at threshold +inf. The histogram says in which
// bin c lies (b*, from the impostor counts from the top) and where the lowest genuine score
// above it can lie (b* itself, or the first non-empty genuine bin above b*). A second pass over
// the same scores (the same bins: one score, one bin) keeps the scores of those bins only
// (wants(bin)); results() reads c and t from them and the counts above from the histogram.
// Memory: the scores of at most two bins per target.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/metrics/score_histogram.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

class histogram_refinement {
 public:
  /// Plans the second pass for `far_targets` over the histogram of the first.
  histogram_refinement(const score_histogram& h, std::vector<double> far_targets)
      : h_(&h), targets_(std::move(far_targets)) {
    detail::require_far_targets(targets_, "far_targets");
    P_ = h.genuine_total();
    N_ = h.impostor_total();
    detail::require_both_classes(P_, N_, "histogram");
    const auto& gen = h.genuine_counts();
    const auto& imp = h.impostor_counts();
    wanted_.assign(gen.size(), 0);
    for (double f : targets_) {
      plan p;
      // The largest F with F / N <= f, as the at-most rule compares.
      p.F = std::min<index_t>(N_, index_t(std::floor(f * double(N_))));
      while (p.F < N_ && double(p.F + 1) / double(N_) <= f) ++p.F;
      while (p.F > 0 && !(double(p.F) / double(N_) <= f)) --p.F;
      index_t above = 0;
      p.critical = -1;
      if (p.F < N_) {
        for (index_t b = h.bins() - 1; b >= 0; --b) {
          const index_t n = imp[std::size_t(b)];
          if (above + n > p.F) {
            p.critical = b;
            p.rank = p.F + 1 - above;  // c is the rank-th highest impostor of bin b
            break;
          }
          above += n;
        }
      }
      // The first non-empty genuine bin above b* (b* = -1: the lowest non-empty one).
      for (index_t b = p.critical + 1; b < h.bins(); ++b) {
        if (gen[std::size_t(b)] > 0) {
          p.genuine_bin = b;
          break;
        }
      }
      if (p.critical >= 0) wanted_[std::size_t(p.critical)] = 1;
      if (p.genuine_bin >= 0) wanted_[std::size_t(p.genuine_bin)] = 1;
      plans_.push_back(p);
    }
    kept_gen_.resize(gen.size());
    kept_imp_.resize(gen.size());
  }

  /// Whether the second pass must hand over the scores of this bin (h.bin_of(score)).
  bool wants(index_t bin) const { return wanted_[std::size_t(bin)] != 0; }

  /// Keeps a score of a wanted bin.
  void add(double score, bool genuine) {
    const index_t b = h_->bin_of(score);
    if (!wants(b)) return;
    (genuine ? kept_gen_ : kept_imp_)[std::size_t(b)].push_back(score);
  }

  /// The scores kept so far, flattened so that another process can add them (merge_kept):
  /// for each wanted bin, [bin, genuine count, impostor count, genuine scores, impostor
  /// scores].
  std::vector<double> kept() const {
    std::vector<double> out;
    for (std::size_t b = 0; b < wanted_.size(); ++b) {
      if (!wanted_[b]) continue;
      out.push_back(double(b));
      out.push_back(double(kept_gen_[b].size()));
      out.push_back(double(kept_imp_[b].size()));
      out.insert(out.end(), kept_gen_[b].begin(), kept_gen_[b].end());
      out.insert(out.end(), kept_imp_[b].begin(), kept_imp_[b].end());
    }
    return out;
  }

  /// Adds the scores another second pass kept (its kept()), over another share of the pairs,
  /// planned on the same (merged) histogram. The results do not depend on the order of the
  /// shares: results() sorts the kept scores.
  void merge_kept(const std::vector<double>& k) {
    std::size_t at = 0;
    const auto next = [&](const char* what) {
      detail::require(at < k.size(), "kept", std::string("truncated at ") + what);
      return k[at++];
    };
    while (at < k.size()) {
      const double bin = next("a bin");
      detail::require(bin >= 0 && bin < double(wanted_.size()) && wanted_[std::size_t(bin)], "kept",
                      "names a bin this refinement does not keep");
      const double ng = next("a count"), ni = next("a count");
      detail::require(ng >= 0 && ni >= 0 && double(at) + ng + ni <= double(k.size()), "kept",
                      "counts more scores than it holds");
      auto& g = kept_gen_[std::size_t(bin)];
      auto& i = kept_imp_[std::size_t(bin)];
      g.insert(g.end(), k.begin() + std::ptrdiff_t(at),
               k.begin() + std::ptrdiff_t(at + std::size_t(ng)));
      at += std::size_t(ng);
      i.insert(i.end(), k.begin() + std::ptrdiff_t(at),
               k.begin() + std::ptrdiff_t(at + std::size_t(ni)));
      at += std::size_t(ni);
    }
  }

  /// The exact at-most TAR at each FAR target, one result per target.
  std::vector<tar_at_far_result> results() {
    const auto& gen = h_->genuine_counts();
    const auto& imp = h_->impostor_counts();
    for (auto* kept : {&kept_gen_, &kept_imp_})
      for (auto& v : *kept) std::sort(v.begin(), v.end(), std::greater<>());
    // Scores of each class in bins above b.
    auto above = [&](const std::vector<index_t>& counts, index_t b) {
      index_t s = 0;
      for (index_t k = b + 1; k < index_t(counts.size()); ++k) s += counts[std::size_t(k)];
      return s;
    };
    std::vector<tar_at_far_result> out;
    for (std::size_t j = 0; j < plans_.size(); ++j) {
      const plan& p = plans_[j];
      tar_at_far_result r{targets_[j], 0.0, std::numeric_limits<double>::infinity(), 0.0};
      double c = -std::numeric_limits<double>::infinity();
      if (p.critical >= 0) {
        const auto& v = kept_imp_[std::size_t(p.critical)];
        detail::require(index_t(v.size()) == imp[std::size_t(p.critical)], "scores",
                        "the second pass did not give the histogram's scores again");
        c = v[std::size_t(p.rank - 1)];
      }
      // The lowest genuine score above c: in b* if one is there, else in the next genuine bin.
      double t = std::numeric_limits<double>::infinity();
      index_t tb = -1;
      for (index_t b : {p.critical, p.genuine_bin}) {
        if (b < 0 || tb >= 0) continue;
        const auto& g = kept_gen_[std::size_t(b)];
        detail::require(index_t(g.size()) == gen[std::size_t(b)], "scores",
                        "the second pass did not give the histogram's scores again");
        for (auto it = g.rbegin(); it != g.rend(); ++it) {  // ascending
          if (*it > c) {
            t = *it;
            tb = b;
            break;
          }
        }
      }
      if (tb >= 0) {
        const auto& g = kept_gen_[std::size_t(tb)];
        const auto& i = kept_imp_[std::size_t(tb)];
        const index_t tp =
            above(gen, tb) +
            index_t(std::count_if(g.begin(), g.end(), [&](double s) { return s >= t; }));
        const index_t fp =
            above(imp, tb) +
            index_t(std::count_if(i.begin(), i.end(), [&](double s) { return s >= t; }));
        r.tar = double(tp) / double(P_);
        r.threshold = t;
        r.far = double(fp) / double(N_);
      }
      out.push_back(r);
    }
    return out;
  }

 private:
  struct plan {
    index_t F = 0;
    index_t critical = -1;  // the bin holding c; -1: every impostor may be accepted
    index_t rank = 0;
    index_t genuine_bin = -1;
  };
  const score_histogram* h_;
  std::vector<double> targets_;
  index_t P_ = 0, N_ = 0;
  std::vector<plan> plans_;
  std::vector<char> wanted_;
  std::vector<std::vector<double>> kept_gen_, kept_imp_;
};

}  // namespace unitsface::metrics
