// unitsface: the generic tile driver shared by every pairwise loss.
//
// The driver walks the references in tiles of columns. For each tile a matrix product gives
// the B x T cosines, the loss kernel turns them into per-row statistics (statistics passes)
// or into loss terms and d loss / d cos (element pass, written over the tile in place), and
// two more products accumulate the gradients:
//     d loss / d x_hat    += G_tile  R_hat_tile          (B x D)
//     d loss / d r_hat_tile = G_tile^T X_hat              (T x D, learnable references)
// The B x N cosine matrix never exists; memory is O(B D + T D + B T).
//
// The phases are public (statistics_pass, finish_pass, element_pass, finish) so that a loss
// can run over a shard of the references and merge the per-row statistics across shards
// between passes (the kernel's stats::merge), which is what a class-sharded multi-device loss
// does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/policy_concept.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/losses/detail/normalize_eps.hpp"
#include "unitsface/losses/detail/validate.hpp"
#include "unitsface/losses/kernels/kernel.hpp"
#include "unitsface/losses/pairing.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::detail {

/// A tile's valid flags as the lane loops read them: 1 / 0 as T (a byte load among float
/// ones keeps g++ from vectorising), and how many are 1. Empty (null flags) where the tile
/// has no flags or the lanes do not run.
template <class T>
struct lane_mask {
  const T* flags = nullptr;
  index_t valid = 0;
};

/// Whether a row of this tile runs as lanes (host code): references indexed by class
/// (weights, the memory: the positive is the one column y - offset), contiguous tile rows,
/// and the valid flags, where there are any, as a lane_mask.
template <class T, class U>
UNITSFACE_HD inline bool lane_form(const pairing& pairs, const matrix_view<U>& tile,
                                   const lane_mask<T>& mask) {
  return pairs.ref_labels == nullptr && !pairs.exclude_self && tile.col_stride == 1 &&
         (pairs.ref_valid == nullptr || mask.flags != nullptr);
}

/// A statistics pass's plain loop over the columns first, first + step, ... of row i of a
/// tile (step 1: the whole row; a device's row segment: step = the segments), into st. `cs`
/// non-null: the tile holds products with raw references, column j's cosine is tile(i, j)
/// cs[j] (cs[j] = 1 / max(||r_j||, eps): tile_driver's raw references).
template <class T, class K>
UNITSFACE_HD inline void stats_columns(const K& kernel, int pass, const matrix_view<const T>& tile,
                                       index_t j0, const pairing& pairs, index_t i, index_t first,
                                       index_t step, typename K::stats& st, const T* cs = nullptr) {
  index_t n_pos = 0, n_neg = 0;
  for (index_t jj = first; jj < tile.cols; jj += step) {
    const pair_kind k = pairs(i, j0 + jj);
    if (k == pair_kind::skip) continue;
    if (pass == 1) {  // the counts: the first pass's (a later one would count them again)
      n_pos += k == pair_kind::positive ? 1 : 0;
      n_neg += k == pair_kind::positive ? 0 : 1;
    }
    kernel.accumulate(pass, st, cs != nullptr ? tile(i, jj) * cs[jj] : tile(i, jj), k, j0 + jj);
  }
  if (pass == 1) st.count(n_pos, n_neg);
}

/// The element pass's plain loop over the columns first, first + step, ... of row i of a
/// tile: the loss terms added to loss and, with grad, the tile's cosines overwritten with
/// scale * d loss / d cos (0 for skipped pairs) and their sum added to gsum. `cs` non-null:
/// as in stats_columns, and the gradients are written times cs[j] (d loss / d of the raw
/// product), their sum still of d loss / d cos.
template <class T, class K>
UNITSFACE_HD inline void element_columns(const K& kernel, const matrix_view<T>& tile, index_t j0,
                                         const pairing& pairs, index_t i, index_t first,
                                         index_t step, const typename K::stats& st, T scale,
                                         bool grad, T& loss, T& gsum, const T* cs = nullptr) {
  for (index_t jj = first; jj < tile.cols; jj += step) {
    const pair_kind k = pairs(i, j0 + jj);
    if (k == pair_kind::skip) {
      if (grad) tile(i, jj) = T(0);
      continue;
    }
    const T c = cs != nullptr ? tile(i, jj) * cs[jj] : tile(i, jj);
    const element_value<T> e = kernel.element(c, k, j0 + jj, st);
    loss += e.loss;
    if (grad) {
      const T g = scale * e.dcos;
      tile(i, jj) = cs != nullptr ? g * cs[jj] : g;
      gsum += g;
    }
  }
}

template <class T, class K>
struct stats_row {
  using S = typename K::stats;
  K kernel;
  int pass;
  matrix_view<const T> tile;
  index_t j0;
  pairing pairs;
  S* stats;
  lane_mask<T> mask = {};
  const T* col_scale = nullptr;  // raw references' 1 / max(||r_j||, eps) (stats_columns), or null
  UNITSFACE_HD void operator()(index_t i) const {
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
    // Class-indexed references with contiguous rows (see element_row): lanes, for the
    // kernels whose negatives only feed a logsumexp (negative_logit).
    if constexpr (requires { kernel.negatives_in_lse(pass); }) {
      if (lane_form(pairs, tile, mask)) {
        if (pairs.ref_valid != nullptr) {
          return col_scale != nullptr ? lanes<true, true>(i) : lanes<true, false>(i);
        }
        return col_scale != nullptr ? lanes<false, true>(i) : lanes<false, false>(i);
      }
    }
#endif
    stats_columns(kernel, pass, tile, j0, pairs, i, 0, 1, stats[i], col_scale);
  }

  // The lane form of one row: the tile's negatives reach the row's logsumexp as one
  // (max, sum) pair, from two branch-free loops the compiler vectorises (a maximum in lanes,
  // then a sum of math::vexp(v - max) in lanes), merged into st.neg; the online update of
  // the plain loop rescales at every new maximum and does not vectorise. The positive column
  // (y_i - offset, at most one) goes through the kernel's accumulate as in the plain loop.
  static constexpr int lanes_width = 16;
  template <bool Valid, bool Scaled>
  UNITSFACE_WIDE_VECTORS void lanes(index_t i) const {
    const K k = kernel;  // a local copy: the compiler keeps its parameters in registers
    S& st = stats[i];
    const T* row = &tile(i, 0);
    const T* cs = col_scale;
    const index_t n = tile.cols;
    const index_t jp = pairs.anchor_labels[i] - pairs.label_offset - j0;  // may be off the tile
    const bool has_pos = jp >= 0 && jp < n && (!Valid || pairs.ref_valid[j0 + jp] != 0);
    const T* vm = mask.flags;
    if (pass == 1) st.count(has_pos ? 1 : 0, (Valid ? mask.valid : n) - (has_pos ? 1 : 0));
    if (k.negatives_in_lse(pass)) {
      const T ninf = -math::infinity<T>();
      // v_j, or -inf where column j is not a negative (invalid, or the positive)
      auto logit = [&](index_t j) UNITSFACE_LANE_INLINE {
        // unconditional: a plain vector load
        const T v = k.negative_logit(Scaled ? row[j] * cs[j] : row[j], j0 + j);
        // `&`, not `&&`: a short-circuit is a branch
        const bool live = (Valid ? vm[j] != T(0) : true) & (j != jp);
        return live ? v : ninf;
      };
      T lane[lanes_width];
      for (int l = 0; l < lanes_width; ++l) lane[l] = ninf;
      index_t j = 0;
      for (; j + lanes_width <= n; j += lanes_width) {
        // g++ unrolls this inner loop early, after which it no longer vectorises a maximum.
        UNITSFACE_KEEP_ROLLED
        for (int l = 0; l < lanes_width; ++l) {
          const T v = logit(j + l);
          lane[l] = v > lane[l] ? v : lane[l];
        }
      }
      for (int l = 0; j + l < n; ++l) {
        const T v = logit(j + l);
        lane[l] = v > lane[l] ? v : lane[l];
      }
      T max = ninf;
      for (int l = 0; l < lanes_width; ++l) max = lane[l] > max ? lane[l] : max;
      if (max > ninf) {
        for (int l = 0; l < lanes_width; ++l) lane[l] = T(0);
        for (j = 0; j + lanes_width <= n; j += lanes_width) {
          for (int l = 0; l < lanes_width; ++l) lane[l] += math::vexp(logit(j + l) - max);
        }
        for (int l = 0; j + l < n; ++l) lane[l] += math::vexp(logit(j + l) - max);
        math::lse_accumulator<T> tile_lse;
        tile_lse.max = max;
        tile_lse.sum = T(0);
        for (int l = 0; l < lanes_width; ++l) tile_lse.sum += lane[l];
        st.neg.merge(tile_lse);
      }
    }
    if (has_pos) {
      k.accumulate(pass, st, Scaled ? row[jp] * cs[jp] : row[jp], pair_kind::positive, j0 + jp);
    }
  }
};

/// Puts each anchor's statistics in their empty state (logsumexps at -inf, counts and sums
/// 0). A device buffer comes zero-filled, not constructed, and all-zero bytes are not the
/// empty state: an LSE that starts from max = 0, sum = 0 adds e^v for v < 0 unscaled, which
/// underflows to 0 in float for v below about -87 (a log of 0 then, and a NaN gradient).
template <class S>
struct stats_init {
  S* stats;
  UNITSFACE_HD void operator()(index_t i) const { stats[i] = S(); }
};

template <class T, class K>
struct finish_row {
  K kernel;
  int pass;
  typename K::stats* stats;
  UNITSFACE_HD void operator()(index_t i) const { kernel.finish_pass(pass, stats[i]); }
};

template <class T, class K>
struct row_loss_init {
  K kernel;
  const typename K::stats* stats;
  T* row_loss;
  bool row_term;  // false: 0 (a shard other than the first: the term is counted once)
  UNITSFACE_HD void operator()(index_t i) const {
    row_loss[i] = row_term ? kernel.row_loss(stats[i]) : T(0);
  }
};

/// Element pass over one tile: adds the elements' loss terms to row_loss and, with `grad`,
/// overwrites the tile's cosines with row_scale_i * d loss_i / d cos_ij (0 for skipped pairs).
template <class T, class K>
struct element_row {
  using S = typename K::stats;
  K kernel;
  matrix_view<T> tile;
  index_t j0;
  pairing pairs;
  const S* stats;
  const T* row_scale;  // null: every row scaled by scale_all; else also by row_scale[i * stride]
  T scale_all;
  index_t row_scale_stride;  // 1: one factor per row (reduction::none); 0: one for all
  T* row_loss;
  bool grad;
  T* row_gsum;  // non-null: row_gsum[i] += sum_j of the row's written gradients (scalar bias)
  lane_mask<T> mask = {};
  // Non-null (host memory): the tile holds products with the raw references, column j's
  // cosine is tile(i, j) col_scale[j] (col_scale[j] = 1 / max(||r_j||, eps)), and its
  // gradient is written times col_scale[j], so that the gradient products take the raw
  // references too (tile_driver's raw references); row_gsum still sums d loss / d cos.
  const T* col_scale = nullptr;
  UNITSFACE_HD void operator()(index_t i) const {
    const S& st = stats[i];
    const T scale = row_scale != nullptr ? row_scale[i * row_scale_stride] * scale_all : scale_all;
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
    // References indexed by class (weights, the per-identity memory) with contiguous rows:
    // the anchor's positive is the one known column y_i - offset, so the row needs no label
    // comparison per pair and runs as lanes the compiler vectorises.
    if (lane_form(pairs, tile, mask)) {
      // A kernel may offer a form of itself with its row invariants resolved for this loop.
      if constexpr (requires { kernel.with_lane_form([](const auto&) {}); }) {
        kernel.with_lane_form([&](const auto& form) { lanes_dispatch(form, i, st, scale); });
      } else {
        lanes_dispatch(kernel, i, st, scale);
      }
      return;
    }
#endif
    T loss = T(0), gsum = T(0);
    element_columns(kernel, tile, j0, pairs, i, 0, 1, st, scale, grad, loss, gsum, col_scale);
    row_loss[i] += loss;
    if (row_gsum != nullptr) row_gsum[i] += gsum;
  }

  // The lane form of one row for class-indexed references. Every column is first taken as a
  // negative, in `lanes_width` partial sums (column j adds to lane j % lanes_width): the inner
  // loop then has no dependence between iterations and no branch (validity and "is this the
  // positive" are selects), so the compiler vectorises it, transcendental functions included
  // (math::vexp). The positive column, one per row at most, is then evaluated as a positive
  // from the cosine saved before the loop and added to the sums. Sums are grouped differently
  // from the plain loop's, and the same for every thread count.
  static constexpr int lanes_width = 16;
  // A kernel's term for a negative: its negative_element where it has one (no branch on the
  // pair kind left for the inliner to fold), else its element.
  template <class F>
  UNITSFACE_LANE_INLINE static element_value<T> negative_element(const F& f, T c, index_t j,
                                                                 const S& st) {
    if constexpr (requires { f.negative_element(c, j, st); }) {
      return f.negative_element(c, j, st);
    } else {
      return f.element(c, pair_kind::negative, j, st);
    }
  }
  template <class F>
  void lanes_dispatch(const F& form, index_t i, const S& st, T scale) const {
    const bool scaled = col_scale != nullptr;
    if (pairs.ref_valid != nullptr) {
      if (grad) {
        return scaled ? lanes<true, true, true>(form, i, st, scale)
                      : lanes<true, true, false>(form, i, st, scale);
      }
      return scaled ? lanes<true, false, true>(form, i, st, scale)
                    : lanes<true, false, false>(form, i, st, scale);
    }
    if (grad) {
      return scaled ? lanes<false, true, true>(form, i, st, scale)
                    : lanes<false, true, false>(form, i, st, scale);
    }
    return scaled ? lanes<false, false, true>(form, i, st, scale)
                  : lanes<false, false, false>(form, i, st, scale);
  }
  template <bool Valid, bool Grad, bool Scaled, class F>
  UNITSFACE_WIDE_VECTORS void lanes(const F& form_ref, index_t i, const S& st_ref, T scale) const {
    // Local copies: the tile's stores cannot alias them (a reference could), so the compiler
    // keeps them in registers across the loop.
    const F form = form_ref;
    const S st = st_ref;
    T* row = &tile(i, 0);
    const index_t n = tile.cols;
    const index_t jp = pairs.anchor_labels[i] - pairs.label_offset - j0;  // may be off the tile
    const bool has_pos = jp >= 0 && jp < n && (!Valid || pairs.ref_valid[j0 + jp] != 0);
    const T* cs = col_scale;
    const T c_pos = has_pos ? (Scaled ? row[jp] * cs[jp] : row[jp]) : T(0);
    const T* vm = mask.flags;
    T lane_loss[lanes_width] = {}, lane_g[lanes_width] = {};
    auto column = [&](index_t j, int l) UNITSFACE_LANE_INLINE {
      const element_value<T> e =
          negative_element(form, Scaled ? row[j] * cs[j] : row[j], j0 + j, st);
      // `&`, not `&&`: a short-circuit is a branch
      const bool live = (Valid ? vm[j] != T(0) : true) & (j != jp);
      lane_loss[l] += live ? e.loss : T(0);
      if constexpr (Grad) {
        const T g = live ? scale * e.dcos : T(0);
        row[j] = Scaled ? g * cs[j] : g;
        lane_g[l] += g;
      }
    };
    index_t j = 0;
    for (; j + lanes_width <= n; j += lanes_width) {
      // kept rolled for the vectoriser (see stats_row::lanes)
      UNITSFACE_KEEP_ROLLED
      for (int l = 0; l < lanes_width; ++l) column(j + l, l);
    }
    for (int l = 0; j + l < n; ++l) column(j + l, l);
    T loss = T(0), gsum = T(0);
    for (int l = 0; l < lanes_width; ++l) {
      loss += lane_loss[l];
      gsum += lane_g[l];
    }
    if (has_pos) {
      const element_value<T> e = form.element(c_pos, pair_kind::positive, j0 + jp, st);
      loss += e.loss;
      if constexpr (Grad) {
        const T g = scale * e.dcos;
        row[jp] = Scaled ? g * cs[jp] : g;
        gsum += g;
      }
    }
    row_loss[i] += loss;
    if (Grad && row_gsum != nullptr) row_gsum[i] += gsum;
  }
};

// ---- rows in segments (backends::row_segments > 1: a device) ----------------------------
// Each row is split into `segs` interleaved segments: segment s holds the columns s,
// s + segs, s + 2 segs, ... of every tile. Thread q = i segs + s runs row i's segment s, so
// that a warp's threads read neighbouring columns of one row (coalesced loads), and B segs
// threads keep a device busy where B threads (one per row) would not. Each segment keeps a
// partial result in its own slot across all the tiles of a pass; after the last tile a
// row's slots are combined in the order of s, in two steps (groups of segment_group slots,
// then the groups) so that no thread walks hundreds of slots alone. The result depends on
// segs alone (a function of the tile's shape), never on scheduling.
constexpr index_t segment_group = 16;

/// The slots of a statistics pass before its first tile: segment 0 continues the row's
/// statistics; the others start empty (pass 1) or from the values the earlier passes derived,
/// without their sums (carried(): the shards' rule, so that the merge counts them once).
template <class S>
struct stats_segment_start {
  const S* stats;
  S* part;
  index_t segs;
  int pass;
  UNITSFACE_HD void operator()(index_t q) const {
    const index_t i = q / segs, s = q % segs;
    part[q] = s == 0 ? stats[i] : pass == 1 ? S() : stats[i].carried();
  }
};

/// A statistics pass over one segment of a row of one tile, added to its slot part[q].
template <class T, class K>
struct stats_segment {
  using S = typename K::stats;
  K kernel;
  int pass;
  matrix_view<const T> tile;
  index_t j0;
  pairing pairs;
  S* part;
  index_t segs;
  UNITSFACE_HD void operator()(index_t q) const {
    const index_t i = q / segs, s = q % segs;
    S st = part[q];
    stats_columns(kernel, pass, tile, j0, pairs, i, s, segs, st);
    part[q] = st;
  }
};

/// Step 1 of combining a row's slots (any slot type with merge: a kernel's statistics, an
/// element_slot): group g's slots [g w, (g + 1) w) (w = segment_group) merged, in order,
/// into the group's first slot.
template <class S>
struct merge_slot_groups {
  S* part;
  index_t segs, groups;
  UNITSFACE_HD void operator()(index_t q) const {
    const index_t i = q / groups, g = q % groups;
    S* slot = part + i * segs;
    const index_t lo = g * segment_group,
                  hi = lo + segment_group < segs ? lo + segment_group : segs;
    S st = slot[lo];
    for (index_t s = lo + 1; s < hi; ++s) st.merge(slot[s]);
    slot[lo] = st;
  }
};

/// Step 2: row i's groups (their first slots, after step 1) merged in order.
template <class S>
UNITSFACE_HD S merged_row(const S* part, index_t segs, index_t i) {
  const S* slot = part + i * segs;
  S st = slot[0];
  for (index_t lo = segment_group; lo < segs; lo += segment_group) st.merge(slot[lo]);
  return st;
}

/// A row's statistics from its slots.
template <class S>
struct stats_merge_rows {
  S* stats;
  const S* part;
  index_t segs;
  UNITSFACE_HD void operator()(index_t i) const { stats[i] = merged_row(part, segs, i); }
};

/// A row segment's slot in the element pass: its loss terms and its gradients, summed.
template <class T>
struct element_slot {
  T loss = T(0);
  T g = T(0);
  UNITSFACE_HD void merge(const element_slot& o) {
    loss += o.loss;
    g += o.g;
  }
};

template <class S>
struct reset_slots {
  S* p;
  UNITSFACE_HD void operator()(index_t q) const { p[q] = S(); }
};

/// The element pass over one segment of a row of one tile (element_row's plain loop): the
/// gradients written in place, the segment's loss and gradient sums added to its slot part[q].
template <class T, class K>
struct element_segment {
  using S = typename K::stats;
  K kernel;
  matrix_view<T> tile;
  index_t j0;
  pairing pairs;
  const S* stats;
  const T* row_scale;
  T scale_all;
  index_t row_scale_stride;
  bool grad;
  element_slot<T>* part;
  index_t segs;
  UNITSFACE_HD void operator()(index_t q) const {
    const index_t i = q / segs, s = q % segs;
    const S st = stats[i];
    const T scale = row_scale != nullptr ? row_scale[i * row_scale_stride] * scale_all : scale_all;
    T loss = T(0), gsum = T(0);
    element_columns(kernel, tile, j0, pairs, i, s, segs, st, scale, grad, loss, gsum);
    part[q].loss += loss;
    part[q].g += gsum;
  }
};

/// A row's loss (and gradient sum, where one is wanted) from its slots, added to its own.
template <class T>
struct element_merge_rows {
  T* row_loss;
  T* row_gsum;  // null: none
  const element_slot<T>* part;
  index_t segs;
  UNITSFACE_HD void operator()(index_t i) const {
    const element_slot<T> e = merged_row(part, segs, i);
    row_loss[i] += e.loss;
    if (row_gsum != nullptr) row_gsum[i] += e.g;
  }
};

template <class T>
struct column_sum {
  matrix_view<const T> tile;
  T* out;
  index_t j0;
  UNITSFACE_HD void operator()(index_t jj) const {
    T acc = T(0);
    for (index_t i = 0; i < tile.rows; ++i) acc += tile(i, jj);
    out[j0 + jj] += acc;
  }
};

template <class T>
struct add_rows {  // dst(i + r0, :) += src(i, :)
  matrix_view<const T> src;
  matrix_view<T> dst;
  index_t r0;
  UNITSFACE_HD void operator()(index_t i) const {
    for (index_t k = 0; k < src.cols; ++k) dst(i + r0, k) += src(i, k);
  }
};

/// d loss / d r for raw references r (one row per reference) from g = G'^T X_hat, where G'
/// holds the element pass's gradients times 1 / max(||r_j||, eps) (element_row::col_scale),
/// in place:
///   d loss / d r_j = g_j - r_j (r_j . g_j) / ||r_j||^2   when ||r_j|| > eps,
///                  = g_j                                  otherwise;
/// normalize_backward_row's (g^ - r^ (r^ . g^)) / ||r_j|| for g^ = ||r_j|| g_j and r^ = r_j /
/// ||r_j||, without the normalised rows (the driver uses raw references on the CPUs only; a
/// device compiler still sees the call).
template <class T>
struct raw_reference_backward_row {
  matrix_view<const T> r;
  const T* norms;
  matrix_view<T> g;
  T eps;
  UNITSFACE_HD void operator()(index_t i) const {
    const T n = norms[i];
    if (!(n > eps)) return;
    const T c = backends::generic::detail::row_dot(r, matrix_view<const T>(g), i) / n / n;
    for (index_t k = 0; k < g.cols; ++k) g(i, k) -= c * r(i, k);
  }
};

/// norms[i] = ||r_i|| (summed as normalize_row sums it) and inv[i] = 1 / max(||r_i||, eps):
/// the raw references' scales (tile_driver's raw references).
template <class T>
struct reference_norm_row {
  matrix_view<const T> r;
  T* norms;
  T* inv;
  T eps;
  UNITSFACE_HD void operator()(index_t i) const {
    using std::sqrt;
    const T n = sqrt(backends::generic::detail::row_dot(r, r, i));
    norms[i] = n;
    inv[i] = T(1) / (n > eps ? n : eps);
  }
};

template <class T>
struct indexed_value {
  const T* p;
  UNITSFACE_HD T operator()(index_t i) const { return p[i]; }
};

/// The tile driver for one batch of anchors against one set (or shard) of references.
template <class Policy, class T>
class tile_driver {
  static_assert(execution_policy<Policy>, "Policy: an execution policy (core/policy_concept.hpp)");

 public:
  // The call's working memory: make_scratch (from the policy's workspace where it has one);
  // buffers written before they are read are uninitialised scratch.
  using buffer = decltype(backends::make_scratch<T>(std::declval<const Policy&>(), 0));
  template <class K>
  using stats_buffer =
      decltype(backends::make_scratch<typename K::stats>(std::declval<const Policy&>(), 0));

  /// x: B x D anchors; refs: N x D references (ignored with in_batch, where the references
  /// are the anchors themselves). All views address the policy's memory. tile_cols = 0
  /// chooses a tile of about default_tile_elements cosines. cache_bytes: the largest
  /// B x N cosine matrix kept between passes (see keeps_cosines). unit_refs: refs already
  /// normalised (N x D, references::unit_rows), or empty: the driver normalises each tile.
  /// check_references (host memory, references the driver normalises): the argument name of
  /// the references, whose NaN/Inf the driver then finds itself before anything is written
  /// (see check_tile), instead of the call's value check; null: no check. raw_references:
  /// the references may be used as they are (see uses_raw_references).
  tile_driver(const Policy& pol, matrix_view<const T> x, matrix_view<const T> refs, bool in_batch,
              pairing pairs, bool refs_learnable, index_t tile_cols = 0,
              std::size_t cache_bytes = 0, matrix_view<const T> unit_refs = {},
              const char* check_references = nullptr, bool raw_references = false)
      : pol_(pol),
        x_(x),
        refs_(in_batch ? x : refs),
        unit_refs_(in_batch ? matrix_view<const T>() : unit_refs),
        in_batch_(in_batch),
        pairs_(pairs),
        refs_learnable_(refs_learnable),
        cache_bytes_(cache_bytes),
        refs_check_(check_references) {
    if constexpr (!Policy::host_memory) {
      unitsface::detail::require(check_references == nullptr, "check_references",
                                 "the driver checks references in host memory only");
    }
    unitsface::detail::require(
        check_references == nullptr || (!in_batch && unit_refs.data == nullptr), "check_references",
        "only references that the driver normalises are checked by it");
    B_ = x.rows;
    D_ = x.cols;
    N_ = refs_.rows;
    T_ = tile_width(B_, N_, tile_cols);
    xhat_ = backends::make_uninitialized_scratch<T>(pol_, B_ * D_);
    xnorm_ = backends::make_uninitialized_scratch<T>(pol_, B_);
    backends::normalize_rows(pol_, x_, xhat_view(), ptr(xnorm_), normalize_eps<T>);
    raw_ = Policy::host_memory && raw_references && !in_batch_ && unit_refs_.data == nullptr &&
           pairs_.ref_labels == nullptr;
    if (!in_batch_ && unit_refs_.data == nullptr) {
      rnorm_ = backends::make_uninitialized_scratch<T>(pol_, N_);  // every reference's norm
      if (raw_) {
        rinv_ = backends::make_uninitialized_scratch<T>(pol_, N_);
        normed_.assign(std::size_t((N_ + T_ - 1) / T_), 0);
      } else {
        rtile_ = backends::make_uninitialized_scratch<T>(pol_, T_ * D_);
      }
    }
    cos_ = backends::make_uninitialized_scratch<T>(pol_, B_ * T_);
  }

  /// The default tile holds about 2^22 cosines (16 MiB in float) on the CPUs: large enough
  /// that the products run at full speed and that a few-thousand-class head is one tile,
  /// small enough that a million-class head never needs B x C memory. A policy may declare
  /// its own (backends::default_tile_elements; cuda_policy: 2^25).
  static constexpr index_t default_tile_elements = backends::default_tile_elements<Policy>();

  /// The references per tile for B anchors and N references: tile_cols, or 0 for the default
  /// (about `elements` cosines, at least 64 columns); never more than N, at least 1.
  static index_t tile_width(index_t B, index_t N, index_t tile_cols,
                            index_t elements = default_tile_elements) {
    const index_t t =
        tile_cols > 0 ? tile_cols : std::max<index_t>(64, elements / std::max<index_t>(B, 1));
    return std::max<index_t>(1, std::min(t, N));
  }

  /// Whether the references are used as they are, never normalised into a tile (host
  /// memory, references the driver would normalise, not sampled rows, and the caller's
  /// consent: raw_references, which a kernel with a bias per reference must not give, its
  /// bias gradient being column sums of d loss / d cos). Each tile's product is then X_hat
  /// R^T, its columns scaled by 1 / max(||r_j||, eps) where the passes read them, its
  /// gradients written times the same, so that the gradient products take R too:
  ///   d x_hat += G' R,   d r = G'^T X_hat through the normalisation
  /// (raw_reference_backward_row), G' = G diag(1 / ||r||). The references are read for their
  /// norms once per call instead of read and written normalised in every walk, and no tile
  /// of T x D is kept: CosFace 512 x 85,742 x 512 float, 9.5 ms for the norms against 15 ms
  /// for the normalisation (after the kept tiles' second one had gone), on a 2-core AVX-512
  /// Xeon VM.
  bool uses_raw_references() const { return raw_; }

  index_t batch() const { return B_; }
  index_t references() const { return N_; }
  index_t tile_columns() const { return T_; }

  /// Whether a kernel with statistics passes keeps all B x N cosines from its first pass to
  /// its element pass instead of computing every tile again for each later pass: where there
  /// is more than one tile (one tile is kept anyway) and B N sizeof(T) <= cache_bytes.
  /// CosFace with its weight gradient then costs 3 products instead of 4.
  static bool keeps_cosines(index_t B, index_t N, index_t tile, std::size_t cache_bytes) {
    return tile < N && std::size_t(B) * std::size_t(N) * sizeof(T) <= cache_bytes;
  }

  /// B statistics of `kernel` (K::stats) in their empty state, in the policy's memory.
  template <class K>
  stats_buffer<K> make_stats(const K&) const {
    using S = typename K::stats;
    auto stats = backends::make_uninitialized_scratch<S>(pol_, B_);  // set just below
    backends::for_each_index(pol_, B_, stats_init<S>{backends::data_ptr(stats)});
    return stats;
  }

  /// One statistics pass over every tile (pass = 1 or 2).
  template <class K>
  requires kernels::loss_kernel<K, T>
  void statistics_pass(const K& kernel, int pass, typename K::stats* stats) {
    if (pass == 1 && keeps_cosines(B_, N_, T_, cache_bytes_) && all_cos_.empty()) {
      // allocated here, not in the constructor: a kernel without statistics passes has no
      // use for it
      all_cos_ = backends::make_uninitialized_scratch<T>(pol_, B_ * N_);
      kept_.assign(std::size_t((N_ + T_ - 1) / T_), 0);
    }
    using S = typename K::stats;
    // Rows in segments (a device): one slot of partial statistics per segment, kept across
    // the tiles and combined after the last.
    const index_t segs = backends::row_segments(pol_, B_, T_);
    if (segs > 1) {
      auto part = backends::make_uninitialized_scratch<S>(pol_, B_ * segs);  // set just below
      S* slots = backends::data_ptr(part);
      backends::for_each_index(pol_, B_ * segs, stats_segment_start<S>{stats, slots, segs, pass});
      for_each_tile([&](index_t j0, index_t nt) {
        backends::for_each_index(
            pol_, B_ * segs,
            stats_segment<T, K>{kernel, pass, cosine_tile(j0, nt), j0, pairs_, slots, segs});
      });
      const index_t groups = (segs + segment_group - 1) / segment_group;
      backends::for_each_index(pol_, B_ * groups, merge_slot_groups<S>{slots, segs, groups});
      backends::for_each_index(pol_, B_, stats_merge_rows<S>{stats, slots, segs});
      return;
    }
    for_each_tile([&](index_t j0, index_t nt) {
      auto tile = cosine_tile(j0, nt);
      backends::for_each_index(pol_, B_,
                               stats_row<T, K>{kernel, pass, tile, j0, pairs_, stats,
                                               tile_lane_mask(j0, nt), column_scale(j0)});
    });
    // The first walk normalised every tile, checking each (check_tile); nothing has been
    // written but statistics.
    refs_check_ = nullptr;
  }

  /// Lets the kernel derive its cached values from the (merged) statistics of a pass.
  template <class K>
  void finish_pass(const K& kernel, int pass, typename K::stats* stats) {
    backends::for_each_index(pol_, B_, finish_row<T, K>{kernel, pass, stats});
  }

  /// The element pass: per-anchor losses into row_loss (B values, policy memory, fully
  /// overwritten: the kernel's row term first, element terms added) and, with grad, the
  /// gradients accumulated in the driver (see finish). Each anchor's gradient is multiplied
  /// by scale_all (1/B for the mean) and, unless row_scale is null, by row_scale[i *
  /// row_scale_stride] (policy memory: stride 1 for one factor per anchor, 0 for one factor
  /// for all). Over a shard of the references, `row_term` false leaves the kernel's row term
  /// out (row_loss starts at 0): the shards' row losses then add up to the whole one's when
  /// exactly one shard counts it.
  template <class K>
  requires kernels::loss_kernel<K, T>
  void element_pass(const K& kernel, const typename K::stats* stats, T* row_loss, bool grad,
                    const T* row_scale, T scale_all, index_t row_scale_stride = 1,
                    bool row_term = true) {
    // The element pass writes as it goes: references not yet checked by a statistics pass
    // (a kernel without one) are checked first, in one read.
    if (refs_check_ != nullptr) {
      require_finite_references(pol_, refs_, refs_check_);
      refs_check_ = nullptr;
    }
    backends::for_each_index(pol_, B_, row_loss_init<T, K>{kernel, stats, row_loss, row_term});
    // A bias kernel's bias gradient is the sum of d loss / d cos over the pairs using each
    // bias: per reference column (column sums of the gradient tiles) or, for one scalar
    // bias, over everything — summed by rows inside the element pass, where the values are
    // in registers, instead of a second pass over every tile's columns.
    bool scalar_bias = false;
    if constexpr (K::has_bias) scalar_bias = !kernel.bias_per_column;
    bias_by_rows_ = scalar_bias;
    if (grad) start_gradients(K::has_bias, scalar_bias);
    T* row_gsum = grad && scalar_bias ? ptr(gbias_) : nullptr;
    // Rows in segments (a device): slots of partial losses and gradient sums, one per
    // segment, zeroed, added to tile by tile, combined after the last tile.
    const index_t segs = backends::row_segments(pol_, B_, T_);
    auto part =
        backends::make_uninitialized_scratch<element_slot<T>>(pol_, segs > 1 ? B_ * segs : 0);
    element_slot<T>* slots = backends::data_ptr(part);
    if (segs > 1) backends::for_each_index(pol_, B_ * segs, reset_slots<element_slot<T>>{slots});
    if constexpr (K::has_bias) {
      unitsface::detail::require(!raw_ || !kernel.bias_per_column, "raw_references",
                                 "a bias per reference sums d loss / d cos by columns: the "
                                 "driver must normalise its references");
    }
    for_each_tile([&](index_t j0, index_t nt) {
      auto tile = cosine_tile(j0, nt);
      if (segs > 1) {
        backends::for_each_index(
            pol_, B_ * segs,
            element_segment<T, K>{kernel, tile, j0, pairs_, stats, row_scale, scale_all,
                                  row_scale_stride, grad, slots, segs});
      } else {
        backends::for_each_index(
            pol_, B_,
            element_row<T, K>{kernel, tile, j0, pairs_, stats, row_scale, scale_all,
                              row_scale_stride, row_loss, grad, row_gsum, tile_lane_mask(j0, nt),
                              column_scale(j0)});
      }
      if (!grad) return;
      invalidate(j0);  // the tile now holds gradients, not cosines
      const matrix_view<const T> g = tile;
      const matrix_view<const T> rt = ref_tile(j0, nt);
      // d loss / d x_hat += G R_hat_tile
      backends::gemm(pol_, T(1), g, rt, T(1), gxhat_view());
      if (in_batch_) {
        // the anchors are the references too: d loss / d x_hat[j0:j0+nt] += G^T X_hat
        backends::gemm(pol_, T(1), backends::transpose(g), xhat_cview(), T(1),
                       gxhat_view().row_block(j0, nt));
      } else if (refs_learnable_ && !grad_refs_.empty()) {
        // d loss / d r_hat_tile = G^T X_hat, written where d loss / d r goes and taken
        // through the tile's normalisation in place (normalize_rows_backward allows out == g):
        // no tile-sized buffer of its own, which a call would allocate and first-touch anew.
        const matrix_view<T> gr = grad_refs_.row_block(j0, nt);
        backends::gemm(pol_, T(1), backends::transpose(g), xhat_cview(), T(0), gr);
        if (raw_) {
          backends::for_each_index(
              pol_, nt, raw_reference_backward_row<T>{rt, ptr(rnorm_) + j0, gr, normalize_eps<T>});
        } else {
          backends::normalize_rows_backward(pol_, rt, ptr(rnorm_) + j0, matrix_view<const T>(gr),
                                            gr, normalize_eps<T>, false);
        }
      }
      if (K::has_bias && !scalar_bias) {
        backends::for_each_index(pol_, nt, column_sum<T>{g, ptr(gbias_), j0});
      }
    });
    if (segs > 1) {
      const index_t groups = (segs + segment_group - 1) / segment_group;
      backends::for_each_index(pol_, B_ * groups,
                               merge_slot_groups<element_slot<T>>{slots, segs, groups});
      backends::for_each_index(pol_, B_, element_merge_rows<T>{row_loss, row_gsum, slots, segs});
    }
  }

  /// Where the gradient with respect to learnable references goes (N x D, policy memory).
  /// Must be set before element_pass; rows are overwritten tile by tile.
  void set_reference_gradient(matrix_view<T> grad_refs) { grad_refs_ = grad_refs; }

  /// d loss / d x_hat as the element pass accumulated it (B x D, policy memory): over a shard,
  /// this shard's part, which a sharded loss replaces by the sum over the shards before
  /// finish().
  T* normalized_input_gradient() { return ptr(gxhat_); }

  /// Writes d loss / d x (through the anchors' normalisation) into grad_x (B x D).
  void finish(matrix_view<T> grad_x) {
    backends::normalize_rows_backward(pol_, xhat_cview(), cptr(xnorm_),
                                      matrix_view<const T>(gxhat_view()), grad_x, normalize_eps<T>,
                                      false);
  }

  /// The sums of d loss / d cos a bias kernel's bias gradient comes from (policy memory):
  /// per reference column, sum_i d loss / d cos_ij (N values), for a bias per column; per
  /// anchor, sum_j d loss / d cos_ij (B values), for a scalar bias. bias_gradient_sum_count()
  /// says how many.
  const T* bias_gradient_sums() const { return cptr(gbias_); }
  index_t bias_gradient_sum_count() const { return bias_by_rows_ ? B_ : N_; }

  /// Sum of n values in policy memory, read back to the host.
  T sum(const T* p, index_t n) const {
    return backends::reduce_index<T>(pol_, n, indexed_value<T>{p});
  }

 private:
  template <class Buf>
  static auto* ptr(Buf& b) {
    return backends::data_ptr(b);
  }
  template <class Buf>
  static const auto* cptr(const Buf& b) {
    return backends::data_ptr(b);
  }

  matrix_view<T> xhat_view() { return matrix_view<T>(ptr(xhat_), B_, D_); }
  matrix_view<const T> xhat_cview() const { return matrix_view<const T>(cptr(xhat_), B_, D_); }
  matrix_view<T> gxhat_view() { return matrix_view<T>(ptr(gxhat_), B_, D_); }

  // The normalised references of columns [j0, j0 + nt): the anchors' own normalised rows for
  // in-batch pairs, else normalised into the tile buffer (and their norms into rnorm_) unless
  // it holds them already.
  matrix_view<const T> ref_tile(index_t j0, index_t nt) {
    if (in_batch_) return xhat_cview().row_block(j0, nt);
    if (unit_refs_.data != nullptr) return unit_refs_.row_block(j0, nt);
    if (raw_) {
      // the references as they are, their norms found once (uses_raw_references)
      unsigned char& done = normed_[std::size_t(j0 / T_)];
      if (!done) {
        backends::for_each_index(pol_, nt,
                                 reference_norm_row<T>{refs_.row_block(j0, nt), ptr(rnorm_) + j0,
                                                       ptr(rinv_) + j0, normalize_eps<T>});
        if (refs_check_ != nullptr) check_tile(j0, nt);
        done = 1;
      }
      return refs_.row_block(j0, nt);
    }
    if (rtile_j0_ != j0) {
      backends::normalize_rows(pol_, refs_.row_block(j0, nt), matrix_view<T>(ptr(rtile_), nt, D_),
                               ptr(rnorm_) + j0, normalize_eps<T>);
      if (refs_check_ != nullptr) check_tile(j0, nt);
      rtile_j0_ = j0;
    }
    return matrix_view<const T>(cptr(rtile_), nt, D_);
  }

  // Calls f(j0, nt) for every tile. Successive walks alternate direction, so that a walk
  // starts on the tile the previous one ended on, whose cosines are still in the buffer:
  // with a single tile, a statistics pass and the element pass share one product.
  template <class F>
  void for_each_tile(F&& f) {
    const index_t tiles = (N_ + T_ - 1) / T_;
    for (index_t t = 0; t < tiles; ++t) {
      const index_t k = ascending_ ? t : tiles - 1 - t;
      const index_t j0 = k * T_;
      f(j0, std::min(T_, N_ - j0));
    }
    ascending_ = !ascending_;
  }

  // Cosines of all anchors with references [j0, j0 + nt): B x nt, in the tile buffer (reused
  // when it already holds them) or, where the driver keeps every cosine, in that buffer's
  // block for the tile (B x nt, contiguous, at B j0), computed once.
  matrix_view<T> cosine_tile(index_t j0, index_t nt) {
    if (!all_cos_.empty()) {
      auto tile = matrix_view<T>(ptr(all_cos_) + B_ * j0, B_, nt);
      const std::size_t k = std::size_t(j0 / T_);
      if (kept_[k] != 0) return tile;
      product(j0, nt, tile);
      kept_[k] = 1;
      return tile;
    }
    auto tile = matrix_view<T>(ptr(cos_), B_, nt);
    if (cached_j0_ == j0) return tile;
    product(j0, nt, tile);
    cached_j0_ = j0;
    return tile;
  }
  void product(index_t j0, index_t nt, matrix_view<T> tile) {
    backends::gemm(pol_, T(1), xhat_cview(), backends::transpose(ref_tile(j0, nt)), T(0), tile);
  }
  // The valid flags of references [j0, j0 + nt) for the lane loops, or an empty mask where
  // they do not run (no flags, labelled rows, in-batch pairs, device memory). Made once per
  // tile: every pass over the same tile reuses it (host memory, so a plain loop).
  lane_mask<T> tile_lane_mask(index_t j0, index_t nt) {
    if constexpr (!Policy::host_memory) {
      return {};
    } else {
      if (pairs_.ref_valid == nullptr || pairs_.ref_labels != nullptr || in_batch_) return {};
      if (vmask_.empty()) vmask_ = backends::make_uninitialized_scratch<T>(pol_, T_);
      T* flags = ptr(vmask_);
      if (vmask_j0_ != j0) {
        mask_valid_ = 0;
        for (index_t jj = 0; jj < nt; ++jj) {
          const bool v = pairs_.ref_valid[j0 + jj] != 0;
          flags[jj] = v ? T(1) : T(0);
          mask_valid_ += v ? 1 : 0;
        }
        vmask_j0_ = j0;
      }
      return {flags, mask_valid_};
    }
  }
  // The value check of references [j0, j0 + nt) from their norms, just computed: a row with
  // a NaN or an Inf has a NaN or infinite norm (its sum of squares is), so where every norm
  // is finite no value is, and the check costs nt tests. A norm that is not finite (a NaN or
  // an Inf, or finite values whose squares overflow) sends it to the count of every value,
  // which throws where one is NaN or Inf (host memory: see the constructor).
  void check_tile(index_t j0, index_t nt) const {
    if constexpr (Policy::host_memory) {
      const T* n = cptr(rnorm_) + j0;
      unsigned char bad = 0;
      for (index_t jj = 0; jj < nt; ++jj) bad |= std::isfinite(n[jj]) ? 0 : 1;
      if (bad) require_finite_references(pol_, refs_, refs_check_);
    }
  }
  // The scales of raw references' columns from j0 (uses_raw_references), or null.
  const T* column_scale(index_t j0) const { return raw_ ? cptr(rinv_) + j0 : nullptr; }
  void invalidate(index_t j0) {
    cached_j0_ = -1;
    if (!kept_.empty()) kept_[std::size_t(j0 / T_)] = 0;
  }

  void start_gradients(bool bias, bool by_rows) {
    gxhat_ = backends::make_scratch<T>(pol_, B_ * D_);  // accumulated into: zeroed
    if (bias) gbias_ = backends::make_scratch<T>(pol_, by_rows ? B_ : N_);
  }

  const Policy& pol_;
  matrix_view<const T> x_, refs_, unit_refs_;
  bool in_batch_;
  pairing pairs_;
  bool refs_learnable_;
  index_t B_ = 0, D_ = 0, N_ = 0, T_ = 1;
  std::size_t cache_bytes_ = 0;
  const char* refs_check_ = nullptr;  // the references' name while their values are unchecked
  buffer xhat_, xnorm_, rtile_, rnorm_, cos_, gxhat_, gbias_;
  buffer rinv_;  // raw references' 1 / max(||r_j||, eps) (uses_raw_references), or empty
  std::vector<unsigned char> normed_;  // per tile: raw references' norms found
  bool raw_ = false;
  buffer all_cos_;                   // every cosine, tile by tile (keeps_cosines), or empty
  buffer vmask_;                     // a tile's valid flags as T (tile_lane_mask), or empty
  std::vector<unsigned char> kept_;  // per tile: all_cos_ holds its cosines
  bool bias_by_rows_ = false;  // the last element pass summed a scalar bias's gradient by rows
  matrix_view<T> grad_refs_;
  index_t cached_j0_ = -1;  // the first column of the tile whose cosines cos_ holds, or -1
  index_t rtile_j0_ = -1;   // the first reference normalised in rtile_, or -1
  index_t vmask_j0_ = -1;   // the first reference whose flags vmask_ holds, or -1
  index_t mask_valid_ = 0;  // how many of those flags are 1
  bool ascending_ = true;
};

}  // namespace unitsface::losses::detail
