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
// processes). Impostors go in blocks of 256: their cells computed in one vectorised pass (in
// float for float scores, where that is exact enough: float_cells), which also counts those
// below every genuine value; the others packed to the block's front (detail/pack_kept.hpp,
// AVX-512 where the CPU has it) and counted per cell, the scores of a block 16 ahead asked
// for meanwhile. IJB-C size (15.6 M impostors, 19,557 genuine): 20-23 ms on one core of a
// 2-core Xeon VM (docs/metrics.md).
//
// What corners cannot give: the nearest and interpolated TAR@FAR rules (they look at every
// impostor threshold) and the EER threshold where the crossing falls inside a run of impostors
// (interpolated between the run's ends; the EER value itself is exact).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/corner_summary.hpp"
#include "unitsface/metrics/detail/pack_kept.hpp"
#include "unitsface/metrics/eer.hpp"
#include "unitsface/metrics/roc.hpp"
#include "unitsface/metrics/tar_at_far.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {

namespace detail {
struct genuine_buckets_test_access;  // the tests' view of the cell counts (tests/protocols)
}

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
    auto read = [&](index_t from, index_t to) {
      for (index_t i = from; i < to; ++i) {
        const L v = labels[i];
        if (v == L(1)) {
          detail::require_finite_score(scores[i], i, "scores");
          genuine.push_back(double(scores[i]));
        } else if (!(v == L(0))) {
          detail::genuine_label(v, i, "labels");  // throws
        }
      }
    };
    index_t i0 = 0;
    if constexpr (std::is_arithmetic_v<L> && sizeof(L) <= 8) {
      // Contiguous labels in 64-byte blocks, read as 8 words: a block of zero bits (impostor
      // labels only, the common case) is passed over after one test; in the others, only the
      // words with a bit set are read label by label (a label of zero bits is 0, and one of
      // other bits is read). At IJB-C size (15.7 M byte labels, a genuine one in 800) 1.4 ms,
      // against 2.1 for a vectorised "any label not 0" test per block of 64 and all 64 read
      // where it holds (the per-block reduction to one byte and the labels read one by one).
      if (labels.stride == 1) {
        constexpr index_t words = 8, per_word = index_t(8 / sizeof(L));
        constexpr index_t block = words * per_word;
        for (; i0 + block <= n; i0 += block) {
          std::uint64_t w[words];
          std::memcpy(w, labels.data + i0, sizeof w);
          std::uint64_t any = 0;
          for (index_t k = 0; k < words; ++k) any |= w[k];
          if (any == 0) continue;
          for (index_t k = 0; k < words; ++k)
            if (w[k] != 0) read(i0 + k * per_word, i0 + (k + 1) * per_word);
        }
      }
    }
    read(i0, n);
    detail::require_both_classes(index_t(genuine.size()), n - index_t(genuine.size()), "scores");
    genuine_buckets b(std::move(genuine));
    if (labels.stride == 1) {  // a plain load, which the block's keep loop vectorises
      b.add_where(scores, [l = labels.data](index_t i) { return l[i] == L(0); });
    } else {
      b.add_where(scores, [&](index_t i) { return labels[i] == L(0); });
    }
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
    // The other set's cells go straight to their buckets, so that no cell count can pass
    // its limit (reserve_cell_counts).
    join_cells(o.cells_float_, above_, above_min_);
    join_cells(o.cells_double_, above_, above_min_);
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
    join_cells(cells_float_, above, above_min);
    join_cells(cells_double_, above, above_min);
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
  // One cell of the grid as scores of type S count into it: their number and lowest score, in
  // one record, so that counting a score touches one cache line. Float scores have a table of
  // 8-byte cells and double scores one of 16: at IJB-C size, 90% of the impostors counted one
  // by one fall into 6,243 cells, 98 KB of 16-byte cells (twice a 48 KB L1 data cache) and
  // 49 KB of 8-byte ones, and a score costs a conversion to double less. A cell with a genuine
  // value near, whose scores are searched, has a count of `searched` and is never counted:
  // counting a score tests the count it increments, not a bucket of its own. Medians of 30
  // summaries in alternating runs (Xeon VM, model 207): 22.7-26.1 ms against 26.3-28.1 with
  // the 16-byte cells and a bucket per cell, 19.7-21.8 against 22.6-26.2 with the prefetch of
  // add_blocks in both. The counts are moved to their buckets before any could pass 2^31 - 1
  // (reserve_cell_counts).
  template <class S>
  struct cell {
    S min = std::numeric_limits<S>::infinity();
    std::int32_t count = 0;
  };
  static constexpr std::int32_t searched = std::numeric_limits<std::int32_t>::min();

  // Cells per distinct genuine value. 2: at IJB-C size (19,557 genuine scores) the summary took
  // 24.6-24.9 ms against 25.7-25.9 with 4 cells, 27.2 with 6 and 25.0 with 1 (a smaller table
  // to count in, against more scores near a genuine value to search).
  static constexpr index_t cells_per_value = 2;

  // The search grid: a uniform grid over [lowest, highest] genuine value, cells_per_value cells
  // per distinct value. Cell b (b = 0 ... cells) holds the scores s with t = (hi - s) * scale
  // in [b, b + 1), t computed with an error below `slack` cells (grid_slack). A score of cell b
  // can only lie next to the values v with t_v = (hi - v) * scale in (b - slack, b + 1 +
  // slack): those of near_from_[b] ... near_to_[b] - 1. Most cells have none: their scores all
  // fall into one bucket, known in advance, and are only counted per cell, joined to their
  // buckets when the corners are walked; the others are searched among their few values. Two
  // more cells take the scores above the highest (bucket 0) and clearly below the lowest
  // genuine value (bucket K), the latter counted in the vectorised pass (add_blocks).
  void build_grid() {
    const std::size_t k = values_.size();
    hi_ = values_.front();
    lo_ = values_.back();
    cells_count_ = cells_per_value * index_t(k);
    scale_ = hi_ > lo_ ? double(cells_count_) / (hi_ - lo_) : 0.0;
    // Buckets are int32 in the cells; past that many distinct values, search them all.
    const bool fits =
        k < std::size_t(std::numeric_limits<std::int32_t>::max() / (cells_per_value + 1));
    if (!(scale_ > 0.0 && std::isfinite(scale_)) || !fits) {
      scale_ = 0.0;  // one distinct value (or a span too narrow for a grid): search them all
      return;
    }
    // Extended cells e = b + 1 for b = -1 ... cells + 1.
    cell_bucket_.assign(std::size_t(cells_count_) + 3, -1);
    cell_bucket_.front() = 0;               // above hi
    cell_bucket_.back() = std::int32_t(k);  // below lo by more than a cell
    near_from_.resize(std::size_t(cells_count_) + 1);
    near_to_.resize(std::size_t(cells_count_) + 1);
    const double slack = grid_slack();
    std::size_t from = 0, to = 0;  // t_v grows with v (values_ falls)
    for (index_t b = 0; b <= cells_count_; ++b) {
      while (from < k && (hi_ - values_[from]) * scale_ <= double(b) - slack) ++from;
      while (to < k && (hi_ - values_[to]) * scale_ < double(b + 1) + slack) ++to;
      near_from_[std::size_t(b)] = std::int32_t(from);
      near_to_[std::size_t(b)] = std::int32_t(to);
      if (from == to) cell_bucket_[std::size_t(b) + 1] = std::int32_t(from);
    }
  }

  // The cell table of scores of type S (float or double), made at its first use: a stream of
  // float scores never needs the other.
  template <class S>
  std::vector<cell<S>>& cells() {
    std::vector<cell<S>>& table =
        std::get<std::vector<cell<S>>&>(std::tie(cells_float_, cells_double_));
    if (table.empty()) {
      table.resize(cell_bucket_.size());
      for (std::size_t e = 0; e < table.size(); ++e)
        if (cell_bucket_[e] < 0) table[e].count = searched;
    }
    return table;
  }

  // Adds the counts and lowest scores of a table's counted cells to `above` and `above_min`.
  template <class S>
  void join_cells(const std::vector<cell<S>>& table, std::vector<index_t>& above,
                  std::vector<double>& above_min) const {
    for (std::size_t e = 0; e < table.size(); ++e) {
      if (table[e].count <= 0) continue;  // empty, or searched
      const auto b = std::size_t(cell_bucket_[e]);
      above[b] += index_t(table[e].count);
      above_min[b] = std::min(above_min[b], double(table[e].min));
    }
  }

  // How far, in cells, the t of a score (cell_of, in double or in float) and the t_v of a
  // value (build_grid, in double) can be from their exact values: four roundings of at most
  // 2^-53 (double) or 2^-24 (float, where cells may be computed in float: float_cells) of
  // t <= cells + 3 each, doubled, plus 2^-20 cells to spare. At most about half a cell, so that
  // a score of the extended cell cells + 2 is below lo.
  double grid_slack() const {
    const double unit = float_cells() ? 0x1p-24 : 0x1p-53;
    return 8.0 * double(cells_count_ + 3) * unit + 0x1p-20;
  }

  // The extended cell of a score: floor((hi - s) * scale) + 1, clamped to [0, cells + 2] as a
  // double first (converting an out-of-range double to an integer is undefined); after the
  // clamp, truncation is the floor. Written so that NaN lands in cell 0 (the caller refuses
  // it) and with comparisons and a truncation only: g++ keeps std::floor out of vectorised
  // loops under its default -ftrapping-math. Rounding moves t by less than grid_slack, and
  // never into cell 0 unless s > hi (hi - s >= 0 exactly whenever s <= hi).
  double cell_of(double s) const { return cell_of(s, hi_, scale_, double(cells_count_) + 2.0); }

  // The same in W (float or double), with hi, scale and cells + 2 given in W.
  template <class W>
  static W cell_of(W s, W hi, W scale, W top) {
    W t = (hi - s) * scale + W(1);
    t = t >= W(0) ? t : W(0);
    return t <= top ? t : top;
  }

  // Whether the cells of float scores may be computed in float (16 lanes of AVX-512 against
  // 8: the IJB-C pass's cells in 4.3-4.8 ms against 7.6-8.6). hi must be a float, so that
  // hi - s >= 0 whenever s <= hi (nothing lands in cell 0, above hi, unless it is above hi);
  // then each of the four roundings (hi - s, scale, the product, + 1) moves t by at most 2^-24
  // of t, in all 4 (cells + 3) 2^-24 < 1/8 of a cell while t is below the clamp (past it, the
  // clamp gives the same cell), which grid_slack covers twice.
  bool float_cells() const {
    return double(float(hi_)) == hi_ && std::isfinite(float(scale_)) && float(scale_) > 0.0f &&
           cells_count_ + 3 < (index_t(1) << 19);
  }

  // The values a score of grid cell b can lie next to: [first, last) of values_.
  std::pair<index_t, index_t> near_values(index_t b) const {
    return {near_from_[std::size_t(b)], near_to_[std::size_t(b)]};
  }

  // Makes room for `more` scores in the cell counts: when they could pass 2^31 - 1, every
  // cell's count is moved to its bucket first (once per 2 x 10^9 scores).
  void reserve_cell_counts(index_t more) {
    if (more > cell_count_limit_ - cell_scores_) {
      drain_cells(cells_float_);
      drain_cells(cells_double_);
      cell_scores_ = 0;
    }
    cell_scores_ += more;
  }

  template <class S>
  void drain_cells(std::vector<cell<S>>& table) {
    join_cells(table, above_, above_min_);
    for (cell<S>& c : table)
      if (c.count > 0) c.count = 0;
  }

  // One score s of extended cell e (the caller counts the impostor and has reserved room for
  // it). A counted cell takes an increment and a minimum without a branch: a test of the
  // minimum, rarely true but not predictably so early on, cost 10% of the IJB-C summary.
  template <class S>
  void count_score(cell<S>* cells, std::int32_t e, S s) {
    cell<S>& c = cells[e];
    const std::int32_t count = c.count;
    if (count >= 0) [[likely]] {
      c.count = count + 1;
      c.min = s < c.min ? s : c.min;
    } else {  // a genuine value near: searched
      const auto [from, to] = near_values(index_t(e) - 1);
      search_in(double(s), from, to);
    }
  }

  void add_at(double s, index_t i, const char* argument) {
    if (!std::isfinite(s)) detail::require_finite_score(s, i, argument);
    ++impostor_;
    if (scale_ == 0.0) return search_in(s, 0, index_t(values_.size()));
    reserve_cell_counts(1);
    count_score(cells<double>().data(), std::int32_t(cell_of(s)), s);
  }

  // Counts s into its bucket, found among values [from, to); the caller counts the impostor.
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
  }

  // The scores i with impostor(i) true, in blocks of 256: the block's cells computed first,
  // in a loop the compiler vectorises, with one finiteness test for the block; the scores
  // below every genuine value counted there; the others packed to the front of the block
  // (detail::pack_kept) and counted by a loop of loads and stores that branches only where a
  // cell needs a search.
  template <class T, class Impostor>
  void add_where(vector_view<const T> scores, Impostor impostor) {
    if (scale_ == 0.0) {
      for (index_t i = 0; i < scores.size(); ++i)
        if (impostor(i)) add_at(double(scores[i]), i, "scores");
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (float_cells()) return add_blocks<float>(scores, impostor);
    }
    add_blocks<double>(scores, impostor);
  }

  // add_where's blocks, with the scores and their cells in W (float or double). Not inlined:
  // inlined into a caller with more to keep in registers, the IJB-C pass took 35-48 ms
  // against 31-34.
  template <class W, class T, class Impostor>
  UNITSFACE_NOINLINE void add_blocks(vector_view<const T> scores, Impostor impostor) {
    const index_t n = scores.size();
    constexpr index_t block = 256, lanes = 16, prefetch_blocks = 16;
    alignas(64) std::int32_t e[block], keep[block], packed_cell[block];
    alignas(64) W buffer[block], packed_score[block];
    const detail::pack_isa isa = detail::pack_isa_in_use();
    const W hi = W(hi_), scale = W(scale_), top = W(double(cells_count_) + 2.0);
    // The cell clearly below every genuine value (bucket K): often most impostors (MegaFace's
    // distractors, all-pairs' impostors at a genuine cosine far above 0). Counted in the
    // vectorised pass, its lowest score is the block's lowest (cells only grow as scores
    // fall), looked for only when the pass saw a score under the cell's lowest so far: a few
    // blocks of a stream, not every one.
    const std::int32_t below = std::int32_t(cells_count_ + 2);
    // A local for the cells: through the member, every store to a cell might alias it and the
    // compiler reloads it. The scores are W, and so are the cells' lowest scores.
    cell<W>* const cells = this->cells<W>().data();
    for (index_t i0 = 0; i0 < n; i0 += block) {
      const index_t m = std::min(block, n - i0);
      reserve_cell_counts(m);
      // The scores of the block 16 ahead (16 KB of floats), asked for now: counting a block's
      // kept scores keeps the cache busy with cells, and the hardware's prefetch of the
      // stream falls behind (at IJB-C size 19.7-21.8 ms against 22.7-26.1 without, medians in
      // alternating runs; asking for the labels too, 20.5-21.6 against 19.6-19.9).
      if (scores.stride == 1 && i0 + (prefetch_blocks + 1) * block <= n) {
        const auto* ahead =
            reinterpret_cast<const char*>(scores.data + i0 + prefetch_blocks * block);
        for (std::size_t b = 0; b < block * sizeof(T); b += 64) UNITSFACE_PREFETCH(ahead + b);
      }
      // The block's scores in W, read where they are if they are W already (a copy is a
      // memcpy call per block, a fifth of the IJB-C pass).
      const W* v = buffer;
      if constexpr (std::is_same_v<T, W>) {
        if (scores.stride == 1) v = scores.data + i0;
      }
      if (v == buffer) {
        if (scores.stride == 1) {  // contiguous: a load the compiler vectorises
          for (index_t j = 0; j < m; ++j) buffer[j] = W(scores.data[i0 + j]);
        } else {
          for (index_t j = 0; j < m; ++j) buffer[j] = W(scores[i0 + j]);
        }
      }
      int bad = 0, lower = 0;  // ints: g++ does not vectorise a bool reduction
      std::int32_t n_below = 0;
      const W below_min = cells[below].min;
      for (index_t j = 0; j < m; ++j) {
        bad |= !(std::abs(v[j]) <= std::numeric_limits<W>::max());
        lower |= int(v[j] < below_min);
        // NaN, +-inf: refused below, before any count
        e[j] = std::int32_t(cell_of(v[j], hi, scale, top));
        n_below += std::int32_t(e[j] == below);
        // The others, impostors only, are packed below. In this loop, not one of its own, so
        // that the labels stream in with the scores (1.5-3 ms at IJB-C size); ints, not bools,
        // for the vectoriser.
        keep[j] = std::int32_t(e[j] != below) & std::int32_t(bool(impostor(i0 + j)));
      }
      if (bad) {
        for (index_t j = 0; j < m; ++j)
          detail::require_finite_score(scores[i0 + j], i0 + j, "scores");
      }
      cells[below].count += n_below;  // impostors whatever their labels say
      if (n_below > 0 && lower) {
        W low[lanes];
        for (index_t l = 0; l < lanes; ++l) low[l] = v[0];
        index_t j = 0;
        for (; j + lanes <= m; j += lanes)
          for (index_t l = 0; l < lanes; ++l) low[l] = v[j + l] < low[l] ? v[j + l] : low[l];
        for (; j < m; ++j) low[0] = v[j] < low[0] ? v[j] : low[0];
        cell<W>& c = cells[below];
        for (index_t l = 0; l < lanes; ++l) c.min = low[l] < c.min ? low[l] : c.min;
      }
      const index_t k = detail::pack_kept(isa, keep, e, v, m, packed_cell, packed_score);
      for (index_t r = 0; r < k; ++r) count_score(cells, packed_cell[r], packed_score[r]);
      impostor_ += n_below + k;
    }
  }

  std::vector<double> values_;  // distinct genuine scores, highest first
  std::vector<index_t> count_;  // genuine scores equal to each
  std::vector<index_t> equal_;  // impostor scores equal to each
  std::vector<index_t> above_;  // impostor scores strictly between value k - 1 (or +inf) and k
  std::vector<double> above_min_;
  std::vector<std::int32_t> near_from_, near_to_;  // the search grid (build_grid)
  std::vector<std::int32_t> cell_bucket_;  // each extended cell's bucket, -1: searched (build_grid)
  std::vector<cell<float>> cells_float_;   // the extended cells of float scores (cells<S>)
  std::vector<cell<double>> cells_double_;  // and of double scores
  double lo_ = 0, hi_ = 0, scale_ = 0;
  index_t cells_count_ = 0;
  index_t genuine_ = 0, impostor_ = 0;
  index_t cell_scores_ = 0;  // scores counted in cells since their counts were last moved
  // The most scores the cells take between two moves to their buckets: a cell's count is an
  // int32. Lowered by the tests only (a count of 2^31 takes minutes in their -O0 build).
  index_t cell_count_limit_ = std::numeric_limits<std::int32_t>::max();
  friend struct detail::genuine_buckets_test_access;
};

}  // namespace unitsface::metrics
