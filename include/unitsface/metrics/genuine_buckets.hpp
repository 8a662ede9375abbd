// unitsface metrics: exact AUC, EER and at-most TAR@FAR when the genuine scores are few, without
// sorting (or keeping) the impostor scores.
//
// The genuine scores are sorted once (distinct values, highest first, with their counts); every
// impostor score is then only counted into the bucket of the genuine values around it: equal to
// genuine value k, or strictly between values k - 1 and k (keeping the lowest such score, the
// threshold of the ROC point that ends the run). Those counts are the corners of the ROC, the
// same points as sorted_scores::walk_corners gives after sorting everything; AUC, partial AUC,
// EER and the at-most rule need nothing else. Memory is O(genuine scores); an impostor costs
// O(1) (a grid over the genuine values: most of its cells hold no genuine value and count their
// scores without a search; the others narrow a binary search to a few values), so the
// impostors can stream past (from similarity tiles as they are produced); two bucket sets over
// the same genuine scores merge by adding counts (shards of the impostor pairs: threads,
// processes).
//
// What corners cannot give: the nearest and interpolated TAR@FAR rules (they look at every
// impostor threshold) and the EER threshold where the crossing falls inside a run of impostors
// (interpolated between the run's ends; the EER value itself is exact).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

class genuine_buckets {
 public:
  /// From the genuine scores, in any order (NaN/Inf refused, naming `genuine`).
  explicit genuine_buckets(std::vector<double> genuine) {
    detail::require(!genuine.empty(), "genuine", "no genuine score");
    for (std::size_t i = 0; i < genuine.size(); ++i)
      detail::require_finite_score(genuine[i], index_t(i), "genuine");
    std::sort(genuine.begin(), genuine.end(), std::greater<>());
    for (double g : genuine) {
      if (values_.empty() || values_.back() != g) {
        values_.push_back(g);
        count_.push_back(0);
      }
      ++count_.back();
    }
    genuine_ = index_t(genuine.size());
    const std::size_t k = values_.size();
    equal_.assign(k, 0);
    above_.assign(k + 1, 0);  // above_[k]: between value k - 1 and k; above_[K]: below the last
    above_min_.assign(k + 1, std::numeric_limits<double>::infinity());
    build_grid();
  }

  /// The buckets of `scores` with `labels` (1 genuine, 0 impostor; anything else refused, as
  /// NaN/Inf scores, naming the argument): the genuine scores gathered and sorted, then every
  /// impostor counted. Empty or one-class sets are refused (naming `scores`).
  template <class T, class L>
  static genuine_buckets from_scores(vector_view<const T> scores, vector_view<const L> labels) {
    const index_t n = scores.size();
    detail::require_size("labels", labels.size(), n);
    std::vector<double> genuine;
    // In blocks: a block of impostor labels only (the common case) is passed over after one
    // vectorised test; the others are read label by label.
    constexpr index_t block = 64;
    for (index_t i0 = 0; i0 < n; i0 += block) {
      const index_t m = std::min(block, n - i0);
      int other = 0;  // an int: g++ does not vectorise a bool reduction
      if (labels.stride == 1) {
        for (index_t j = 0; j < m; ++j) other |= int(!(labels.data[i0 + j] == L(0)));
      } else {
        other = 1;
      }
      if (!other) continue;
      for (index_t i = i0; i < i0 + m; ++i) {
        const L v = labels[i];
        if (v == L(1)) {
          detail::require_finite_score(scores[i], i, "scores");
          genuine.push_back(double(scores[i]));
        } else if (!(v == L(0))) {
          detail::genuine_label(v, i, "labels");  // throws
        }
      }
    }
    detail::require_both_classes(index_t(genuine.size()), n - index_t(genuine.size()), "scores");
    genuine_buckets b(std::move(genuine));
    b.add_where(scores, [&](index_t i) { return labels[i] == L(0); });
    return b;
  }

  /// Counts one impostor score (NaN/Inf refused, naming `impostor`).
  void add_impostor(double s) { add_at(s, impostor_, "impostor"); }

  /// Counts impostor scores, in vectorised blocks (as from_scores does): a stream of similarity
  /// tiles' rows costs a cell index and a counter per score. NaN/Inf refused, naming `scores`
  /// and the index, before anything of their block of 256 is counted.
  template <class T>
  void add_impostors(vector_view<const T> scores) {
    add_where(scores, [](index_t) { return true; });
  }

  /// Adds the impostor counts of another set built from the same genuine scores.
  void merge(const genuine_buckets& o) {
    detail::require(o.values_ == values_ && o.count_ == count_, "other",
                    "was built from other genuine scores");
    for (std::size_t k = 0; k < equal_.size(); ++k) equal_[k] += o.equal_[k];
    for (std::size_t k = 0; k < above_.size(); ++k) {
      above_[k] += o.above_[k];
      above_min_[k] = std::min(above_min_[k], o.above_min_[k]);
    }
    for (std::size_t e = 0; e < cells_.size(); ++e) {
      add_count(cells_[e], o.cells_[e].count);
      cells_[e].min = std::min(cells_[e].min, o.cells_[e].min);
    }
    impostor_ += o.impostor_;
  }

  index_t genuine_count() const { return genuine_; }
  index_t impostor_count() const { return impostor_; }

  /// visit(fp, tp, threshold) at the corners of the ROC, highest threshold first: the points
  /// sorted_scores::walk_corners visits for the same scores.
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    // The cells' counts join their buckets (a cell's scores all lie in one bucket).
    std::vector<index_t> above = above_;
    std::vector<double> above_min = above_min_;
    for (const cell& c : cells_) {
      if (c.count == 0) continue;
      above[std::size_t(c.bucket)] += index_t(c.count);
      above_min[std::size_t(c.bucket)] = std::min(above_min[std::size_t(c.bucket)], c.min);
    }
    index_t tp = 0, fp = 0;
    for (std::size_t k = 0; k < values_.size(); ++k) {
      if (above[k] > 0) {
        fp += above[k];
        visit(fp, tp, above_min[k]);
      }
      tp += count_[k];
      fp += equal_[k];
      visit(fp, tp, values_[k]);
    }
    const std::size_t last = values_.size();
    if (above[last] > 0) visit(fp + above[last], tp, above_min[last]);
  }

 private:
  // One cell of the grid: its scores' count and lowest score, and the bucket they all fall
  // into (-1: the cell or a neighbour holds a genuine value, its scores are searched). One
  // 16-byte record, so that counting a score touches one cache line; the count wraps at 2^32
  // into its bucket's count (add_count).
  struct cell {
    double min = std::numeric_limits<double>::infinity();
    std::uint32_t count = 0;
    std::int32_t bucket = -1;
  };

  // The search grid: a uniform grid over [lowest, highest] genuine value, 4 cells per distinct
  // value. Cell b (b = 0 ... cells) holds the scores s with (hi - s) * scale in [b, b + 1);
  // first_[b] = the first value <= hi - b / scale, so a score's value index lies between the
  // entries of its cell's neighbours (one cell of slack either side for rounding). Most cells
  // have no genuine value in them or their neighbours: their scores all fall into one bucket,
  // known in advance, and are only counted per cell, joined to their buckets when the corners
  // are walked. Two more cells take the scores above the highest (bucket 0) and clearly below
  // the lowest genuine value (bucket K). The impostor loop is then a few arithmetic operations
  // and one record, with no unpredictable branch (scores below every genuine value, often half
  // of them, take the same path as the rest).
  void build_grid() {
    const std::size_t k = values_.size();
    hi_ = values_.front();
    lo_ = values_.back();
    cells_count_ = 4 * index_t(k);
    scale_ = hi_ > lo_ ? double(cells_count_) / (hi_ - lo_) : 0.0;
    // Buckets are int32 in the cells; past that many distinct values, search them all.
    const bool fits = k < std::size_t(std::numeric_limits<std::int32_t>::max() / 4);
    if (!(scale_ > 0.0 && std::isfinite(scale_)) || !fits) {
      scale_ = 0.0;  // one distinct value (or a span too narrow for a grid): search them all
      return;
    }
    first_.resize(std::size_t(cells_count_) + 2);
    std::size_t v = 0;
    for (index_t b = 0; b <= cells_count_ + 1; ++b) {
      const double edge = hi_ - double(b) / scale_;
      while (v < k && values_[v] > edge) ++v;
      first_[std::size_t(b)] = index_t(v);
    }
    // Extended cells e = b + 1 for b = -1 ... cells + 1.
    cells_.assign(std::size_t(cells_count_) + 3, cell{});
    cells_.front().bucket = 0;               // above hi
    cells_.back().bucket = std::int32_t(k);  // below lo by more than a cell
    for (index_t b = 0; b <= cells_count_; ++b) {
      const auto [from, to] = near_values(b);
      if (from == to) cells_[std::size_t(b) + 1].bucket = std::int32_t(from);
    }
  }

  // The extended cell of a score: floor((hi - s) * scale) + 1, clamped to [0, cells + 2] as a
  // double first (converting an out-of-range double to an integer is undefined); after the
  // clamp, truncation is the floor. Written so that NaN lands in cell 0 (the caller refuses
  // it) and with comparisons and a truncation only: g++ keeps std::floor out of vectorised
  // loops under its default -ftrapping-math. Rounding in `+ 1` can move a score by one cell,
  // which the cells' slack covers, but never into cell 0 unless s > hi.
  double cell_of(double s) const {
    double t = (hi_ - s) * scale_ + 1.0;
    t = t >= 0.0 ? t : 0.0;
    const double top = double(cells_count_) + 2.0;
    return t <= top ? t : top;
  }

  // The values a score of grid cell b can lie next to: [first, last) of values_, with one
  // cell of slack either side.
  std::pair<index_t, index_t> near_values(index_t b) const {
    return {first_[std::size_t(b > 0 ? b - 1 : 0)],
            first_[std::size_t(std::min(b + 2, cells_count_ + 1))]};
  }

  void add_count(cell& c, std::uint32_t n) {
    const std::uint32_t before = c.count;
    c.count += n;
    if (c.count < before) above_[std::size_t(c.bucket)] += index_t(1) << 32;  // wrapped
  }

  // One score of a cell without a search (c.bucket >= 0); the caller counts the impostor.
  void count_in_cell(cell& c, double s) {
    if (++c.count == 0) [[unlikely]]
      above_[std::size_t(c.bucket)] += index_t(1) << 32;  // wrapped
    if (s < c.min) c.min = s;                             // rarely taken: no store on most scores
  }

  void add_at(double s, index_t i, const char* argument) {
    if (!std::isfinite(s)) detail::require_finite_score(s, i, argument);
    if (scale_ == 0.0) return search_in(s, 0, index_t(values_.size()));
    const auto e = std::size_t(cell_of(s));
    cell& c = cells_[e];
    if (c.bucket >= 0) {  // no genuine value near: no search
      count_in_cell(c, s);
      ++impostor_;
      return;
    }
    const auto [from, to] = near_values(index_t(e) - 1);
    search_in(s, from, to);
  }

  // Counts s into its bucket, found among values [from, to).
  void search_in(double s, index_t from, index_t to) {
    const auto k = std::size_t(
        std::lower_bound(values_.begin() + from, values_.begin() + to, s, std::greater<>()) -
        values_.begin());
    if (k < values_.size() && values_[k] == s) {
      ++equal_[k];
    } else {
      ++above_[k];
      above_min_[k] = std::min(above_min_[k], s);
    }
    ++impostor_;
  }

  // The scores i with impostor(i) true, in blocks: each block's cells computed first, in a loop
  // the compiler vectorises, with one finiteness test for the block; then the counting loop,
  // which is loads and stores only.
  template <class T, class Impostor>
  void add_where(vector_view<const T> scores, Impostor impostor) {
    const index_t n = scores.size();
    if (scale_ == 0.0) {
      for (index_t i = 0; i < n; ++i)
        if (impostor(i)) add_at(double(scores[i]), i, "scores");
      return;
    }
    constexpr index_t block = 256, lanes = 16;
    std::int32_t e[block], rest[block];
    double v[block];
    // The cell clearly below every genuine value (bucket K): often most impostors (MegaFace's
    // distractors, all-pairs' impostors at a genuine cosine far above 0). Counted in the
    // vectorised pass, its lowest score is the block's lowest (cells only grow as scores
    // fall): one record updated per block instead of a chain of stores to the same counter.
    const std::int32_t below = std::int32_t(cells_count_ + 2);
    for (index_t i0 = 0; i0 < n; i0 += block) {
      const index_t m = std::min(block, n - i0);
      if (scores.stride == 1) {  // contiguous: a load the compiler vectorises
        for (index_t j = 0; j < m; ++j) v[j] = double(scores.data[i0 + j]);
      } else {
        for (index_t j = 0; j < m; ++j) v[j] = double(scores[i0 + j]);
      }
      int bad = 0;
      std::int32_t n_below = 0;
      for (index_t j = 0; j < m; ++j) {
        bad |= !(std::abs(v[j]) <= std::numeric_limits<double>::max());
        e[j] = std::int32_t(cell_of(v[j]));  // NaN, +-inf: refused below, before any count
        n_below += std::int32_t(e[j] == below);
      }
      if (bad) {
        for (index_t j = 0; j < m; ++j)
          detail::require_finite_score(scores[i0 + j], i0 + j, "scores");
      }
      // Locals for the cells and the count: through the members, every store to a cell might
      // alias them and the compiler reloads them (3 ms of 35 at IJB-C size).
      cell* const cells = cells_.data();
      index_t counted = 0;
      if (n_below > 0) {  // below every genuine value: impostors whatever their labels say
        double low[lanes];
        for (index_t l = 0; l < lanes; ++l) low[l] = v[0];
        index_t j = 0;
        for (; j + lanes <= m; j += lanes)
          for (index_t l = 0; l < lanes; ++l) low[l] = v[j + l] < low[l] ? v[j + l] : low[l];
        for (; j < m; ++j) low[0] = v[j] < low[0] ? v[j] : low[0];
        cell& c = cells[below];
        add_count(c, std::uint32_t(n_below));
        for (index_t l = 0; l < lanes; ++l) c.min = low[l] < c.min ? low[l] : c.min;
        counted += n_below;
      }
      // The others: where they are few (MegaFace, all-pairs), only the groups of 16 that
      // hold any are read; otherwise (IJB-C: about half) they are gathered without a branch.
      const auto count_one = [&](index_t j) {
        if (!impostor(i0 + j)) return;
        cell& c = cells[e[j]];
        if (c.bucket >= 0) {
          count_in_cell(c, v[j]);
          ++counted;
        } else {
          add_at(v[j], i0 + j, "scores");
        }
      };
      if (8 * (m - n_below) <= m) {
        constexpr index_t group = 16;
        for (index_t g0 = 0; g0 < m; g0 += group) {
          const index_t gm = std::min(group, m - g0);
          int other = 0;  // an int: g++ does not vectorise a bool reduction
          for (index_t l = 0; l < gm; ++l) other |= int(e[g0 + l] != below);
          if (!other) continue;
          for (index_t j = g0; j < g0 + gm; ++j)
            if (e[j] != below) count_one(j);
        }
      } else {
        index_t k = 0;
        for (index_t j = 0; j < m; ++j) {
          rest[k] = std::int32_t(j);
          k += e[j] != below;
        }
        for (index_t r = 0; r < k; ++r) count_one(rest[r]);
      }
      impostor_ += counted;
    }
  }

  std::vector<double> values_;  // distinct genuine scores, highest first
  std::vector<index_t> count_;  // genuine scores equal to each
  std::vector<index_t> equal_;  // impostor scores equal to each
  std::vector<index_t> above_;  // impostor scores strictly between value k - 1 (or +inf) and k
  std::vector<double> above_min_;
  std::vector<index_t> first_;  // the search grid (build_grid)
  std::vector<cell> cells_;     // the extended cells (build_grid)
  double lo_ = 0, hi_ = 0, scale_ = 0;
  index_t cells_count_ = 0;
  index_t genuine_ = 0, impostor_ = 0;
};

/// What the corners of the ROC give exactly.
struct corner_summary {
  index_t genuine = 0;
  index_t impostor = 0;
  double auc = 0;
  eer_result eer;  ///< exact EER; the threshold is interpolated inside an impostor run
  std::vector<tar_at_far_result> at_most;  ///< far_rule::at_most, one per target
};

/// AUC, EER and the at-most TAR at FAR targets of a score source that walks its ROC corners
/// (genuine_buckets, sorted_scores).
template <class Src>
corner_summary summarize_corners(const Src& s,
                                 const std::vector<double>& far_targets = standard_far_targets()) {
  detail::require_far_targets(far_targets, "far_targets");
  const index_t P = s.genuine_count(), N = s.impostor_count();
  detail::require_both_classes(P, N, "scores");
  detail::auc_accumulator auc{P, N};
  detail::eer_accumulator eer;
  eer.P = P;
  eer.N = N;
  detail::at_most_accumulator at_most{P, N, far_targets};
  s.walk_corners([&](index_t fp, index_t tp, double t) {
    const detail::roc_point p{fp, tp, t};
    auc.push(p);
    eer.push(p);
    at_most.push(p);
  });
  corner_summary r;
  r.genuine = P;
  r.impostor = N;
  r.auc = auc.value();
  r.eer = eer.r;
  r.at_most = at_most.results();
  return r;
}

}  // namespace unitsface::metrics
