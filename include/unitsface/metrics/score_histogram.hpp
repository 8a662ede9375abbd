// unitsface metrics: a streaming, mergeable score accumulator for sets too large to sort.
//
// Genuine and impostor scores are counted in B fixed bins of equal width over [lo, hi]
// (default B = 65536 over [-1, 1]: bin width w = 2/65536 ~ 3.05e-5). Memory is 16 B per bin
// (1 MiB by default) whatever the number of pairs, so all-to-all comparisons of millions of
// images (1e12 pairs) can be accumulated in chunks, on several machines, and merged: merging
// adds the counts, so merged accumulators equal one accumulator over the union exactly. To
// cross processes, save() writes the counts as a binary blob that load() reads back (or
// from_counts() rebuilds one from counts sent any other way).
// The last bin is closed: a score of exactly hi (a cosine of 1) is in range, in the last bin.
// Scores below lo or above hi are counted in the first/last bin (and in clamped()).
//
// Resolution ("within one bin"): every metric is computed on the ROC restricted to
// thresholds at bin edges e_i = lo + i w; each such point is an exact ROC point of the same
// scores (accept score >= e_i). Hence
//  - TAR@FAR (at-most): the TAR found is the exact TAR at the first bin edge above c, the
//    exact rule's critical impostor score (the highest impostor score that must be rejected),
//    and that edge lies in (c, c + w]; so it is at most the exact TAR and at least the exact
//    TAR at threshold c + w. FAR never exceeds the target. The threshold reported is the
//    highest edge with that TAR (ties to the highest threshold, as in the exact rule).
//  - EER: the crossing lies in the same bin box as the exact crossing, so |EER_hist - EER| is
//    at most the larger of the FAR and FRR mass of that one bin.
//  - AUC: equal-bin pairs count 1/2 (trapezoids between edges), so |AUC_hist - AUC| is at most
//    half of sum_b (genuine share of bin b) x (impostor share of bin b).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

class score_histogram {
 public:
  explicit score_histogram(index_t bins = 65536, double lo = -1.0, double hi = 1.0)
      : bins_(bins), lo_(lo), hi_(hi) {
    detail::require(bins >= 1, "bins", "must be >= 1");
    detail::require(std::isfinite(lo) && std::isfinite(hi) && lo < hi, "lo",
                    "the range [lo, hi) must be finite and non-empty");
    scale_ = double(bins) / (hi - lo);
    genuine_.assign(static_cast<std::size_t>(bins), 0);
    impostor_.assign(static_cast<std::size_t>(bins), 0);
  }

  index_t bins() const { return bins_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  double bin_width() const { return (hi_ - lo_) / double(bins_); }
  /// Lower edge of bin i (i = bins() gives hi).
  double edge(index_t i) const { return lo_ + double(i) * bin_width(); }
  /// The bin a score falls in (clamped to the range).
  index_t bin_of(double score) const {
    const double x = std::floor((score - lo_) * scale_);
    if (!(x >= 0)) return 0;
    if (x >= double(bins_)) return bins_ - 1;
    return index_t(x);
  }

  void add(double score, bool genuine) {
    if (std::isnan(score)) throw invalid_argument("score", "must not be NaN");
    if (score < lo_ || score > hi_) ++clamped_;
    ++(genuine ? genuine_ : impostor_)[static_cast<std::size_t>(bin_of(score))];
  }
  void add_genuine(double score) { add(score, true); }
  void add_impostor(double score) { add(score, false); }

  /// Adds a chunk of scores with 0/1 labels. Validates the whole chunk before counting any
  /// of it, so a bad chunk leaves the accumulator unchanged.
  template <class S, class L>
  void add(vector_view<S> scores, vector_view<L> labels) {
    detail::require_size("labels", labels.size(), scores.size());
    for (index_t i = 0; i < scores.size(); ++i) {
      if (std::isnan(double(scores[i]))) {
        throw invalid_argument("scores", "NaN at index " + std::to_string(i));
      }
      detail::genuine_label(labels[i], i, "labels");
    }
    for (index_t i = 0; i < scores.size(); ++i) add(double(scores[i]), labels[i] == L(1));
  }

  /// Adds the counts of another accumulator with the same bins and range.
  void merge(const score_histogram& other) {
    detail::require(other.bins_ == bins_ && other.lo_ == lo_ && other.hi_ == hi_, "other",
                    "histograms must have the same bins and range to merge");
    for (std::size_t i = 0; i < genuine_.size(); ++i) {
      genuine_[i] += other.genuine_[i];
      impostor_[i] += other.impostor_[i];
    }
    clamped_ += other.clamped_;
  }

  /// An accumulator holding the given counts (e.g. another process's genuine_counts(),
  /// impostor_counts() and clamped()), checked: one count per bin, none negative.
  static score_histogram from_counts(index_t bins, double lo, double hi,
                                     std::vector<index_t> genuine, std::vector<index_t> impostor,
                                     index_t clamped = 0) {
    score_histogram h(bins, lo, hi);
    detail::require_size("genuine", index_t(genuine.size()), bins);
    detail::require_size("impostor", index_t(impostor.size()), bins);
    for (std::size_t i = 0; i < genuine.size(); ++i) {
      detail::require(genuine[i] >= 0 && impostor[i] >= 0, genuine[i] < 0 ? "genuine" : "impostor",
                      "count " + std::to_string(i) + " is negative");
    }
    detail::require(clamped >= 0, "clamped", "must be >= 0");
    h.genuine_ = std::move(genuine);
    h.impostor_ = std::move(impostor);
    h.clamped_ = clamped;
    return h;
  }

  /// Writes the accumulator as a binary blob: the 8 bytes "UFHIST01", then bins, lo, hi,
  /// clamped and the genuine and impostor counts, each a little-endian 64-bit value (doubles
  /// as their IEEE bits), whatever the host's byte order.
  void save(std::ostream& out) const {
    out.write(blob_magic, 8);
    auto put = [&](std::uint64_t v) {
      char b[8];
      for (int k = 0; k < 8; ++k) b[k] = char((v >> (8 * k)) & 0xFF);
      out.write(b, 8);
    };
    put(std::uint64_t(bins_));
    put(std::bit_cast<std::uint64_t>(lo_));
    put(std::bit_cast<std::uint64_t>(hi_));
    put(std::uint64_t(clamped_));
    for (index_t c : genuine_) put(std::uint64_t(c));
    for (index_t c : impostor_) put(std::uint64_t(c));
    detail::require(bool(out), "out", "the stream failed while writing the histogram");
  }

  /// Reads what save() wrote; a stream that is not such a blob, is cut short or holds counts
  /// out of range is refused by name ("in"), never read as garbage.
  static score_histogram load(std::istream& in) {
    char magic[8] = {};
    in.read(magic, 8);
    detail::require(in.gcount() == 8 && std::memcmp(magic, blob_magic, 8) == 0, "in",
                    "not a score_histogram blob (no UFHIST01 header)");
    auto get = [&](const char* what) {
      unsigned char b[8];
      in.read(reinterpret_cast<char*>(b), 8);
      detail::require(in.gcount() == 8, "in", std::string("truncated at ") + what);
      std::uint64_t v = 0;
      for (int k = 0; k < 8; ++k) v |= std::uint64_t(b[k]) << (8 * k);
      return v;
    };
    auto count = [&](const char* what) {
      const std::uint64_t v = get(what);
      detail::require(v <= std::uint64_t(std::numeric_limits<index_t>::max()), "in",
                      std::string(what) + " out of range");
      return index_t(v);
    };
    const index_t bins = count("bins");
    const double lo = std::bit_cast<double>(get("lo"));
    const double hi = std::bit_cast<double>(get("hi"));
    const index_t clamped = count("clamped");
    // Counts are read one at a time: a corrupt bin count cannot make one huge allocation
    // before the data that backs it has been read.
    std::vector<index_t> g, im;
    for (index_t i = 0; i < bins; ++i) g.push_back(count("genuine counts"));
    for (index_t i = 0; i < bins; ++i) im.push_back(count("impostor counts"));
    return from_counts(bins, lo, hi, std::move(g), std::move(im), clamped);
  }

  const std::vector<index_t>& genuine_counts() const { return genuine_; }
  const std::vector<index_t>& impostor_counts() const { return impostor_; }
  index_t genuine_total() const { return total(genuine_); }
  index_t impostor_total() const { return total(impostor_); }
  index_t clamped() const { return clamped_; }

  /// ROC at the bin edges holding scores: first point (0, 0, +inf), then for each non-empty
  /// bin from the top its lower edge as threshold (everything in the bin or above accepted).
  roc_curve roc() const {
    refresh_totals();
    roc_curve r;
    auto append = [&](const detail::roc_point& p) {
      r.fpr.push_back(double(p.fp) / double(N_));
      r.tpr.push_back(double(p.tp) / double(P_));
      r.thresholds.push_back(p.threshold);
    };
    append(detail::roc_point{});
    visit(append);
    return r;
  }
  double auc() const {
    refresh_totals();
    detail::auc_accumulator acc{P_, N_};
    visit([&](const detail::roc_point& p) { acc.push(p); });
    return acc.value();
  }
  eer_result eer() const {
    refresh_totals();
    detail::eer_accumulator acc;
    acc.P = P_;
    acc.N = N_;
    visit([&](const detail::roc_point& p) { acc.push(p); });
    return acc.r;
  }
  /// TAR at FAR under the at-most rule with bin edges as thresholds.
  std::vector<tar_at_far_result> tar_at_far(const std::vector<double>& far_targets) const {
    detail::require_far_targets(far_targets, "far_targets");
    refresh_totals();
    detail::at_most_accumulator acc{P_, N_, far_targets};
    visit([&](const detail::roc_point& p) { acc.push(p); });
    return acc.results();
  }

 private:
  static index_t total(const std::vector<index_t>& v) {
    index_t s = 0;
    for (index_t c : v) s += c;
    return s;
  }
  // Totals of both classes, checked before any metric: a rate over no pair is undefined.
  void refresh_totals() const {
    P_ = genuine_total();
    N_ = impostor_total();
    detail::require_both_classes(P_, N_, "histogram");
  }
  // Calls f for every ROC point at a bin edge, from the top bin down (not the +inf point).
  template <class F>
  void visit(F&& f) const {
    index_t fp = 0, tp = 0;
    for (index_t b = bins_ - 1; b >= 0; --b) {
      const index_t g = genuine_[static_cast<std::size_t>(b)],
                    im = impostor_[static_cast<std::size_t>(b)];
      if (g == 0 && im == 0) continue;
      fp += im;
      tp += g;
      f(detail::roc_point{fp, tp, edge(b)});
    }
  }

  static constexpr char blob_magic[9] = "UFHIST01";

  index_t bins_;
  double lo_, hi_, scale_;
  std::vector<index_t> genuine_, impostor_;
  index_t clamped_ = 0;
  mutable index_t P_ = 0, N_ = 0;
};

}  // namespace unitsface::metrics
