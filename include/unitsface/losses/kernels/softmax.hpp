// unitsface: the sample-to-class softmax kernel (normalised softmax, CosFace, ArcFace, combined
// margin), parameterised by the target-logit margin.
#pragma once

#include <cmath>

#include "unitsface/core/math.hpp"
#include "unitsface/losses/pairing.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::kernels {

/// Cross-entropy over logits z_ij = s c_ij, the target's replaced by s margin(c_iy):
///   l_i = LSE_j(z_ij) - z_iy,   d l/d c_ij = s (p_ij - [j = y]) (times margin' at the target).
/// One statistics pass (the logsumexp, kept as two mergeable halves); an anchor with no
/// positive (possible only when the target is not among the references) contributes 0.
template <class T, class Margin>
struct softmax {
  /// The logsumexp as two mergeable halves (the target's logit, the others'), its value once
  /// merged, and whether the target is among the references.
  struct stats {
    math::lse_accumulator<T> pos;
    math::lse_accumulator<T> neg;
    T lse = T(0);    // LSE_j(z_ij), set by finish_pass; not merged
    T n_pos = T(0);  // a count, as T: no padding bytes (row_statistics)
    // d loss / d c_in = neg_scale e^{s c_in - LSE}: s, or 0 for an anchor without its target
    // (set by finish_pass, not merged). A factor, not a select on n_pos in the element pass: a
    // select on a float there keeps g++ from inlining math::vexp, and the lane loop stays scalar.
    T neg_scale = T(0);
    UNITSFACE_HD void merge(const stats& o) {
      pos.merge(o.pos);
      neg.merge(o.neg);
      n_pos += o.n_pos;
    }
    UNITSFACE_HD stats carried() const {
      stats c;
      c.lse = lse;
      c.neg_scale = neg_scale;
      return c;
    }
    UNITSFACE_HD void count(index_t p, index_t) { n_pos += T(p); }
  };
  static constexpr int stat_passes = 1;
  static constexpr bool has_bias = false;

  T s;
  Margin margin;

  UNITSFACE_HD void accumulate(int, stats& st, T c, pair_kind k, index_t) const {
    if (k == pair_kind::positive) {
      st.pos.add(s * margin.value(c));
    } else {
      st.neg.add(s * c);
    }
  }
  UNITSFACE_HD void finish_pass(int, stats& st) const {
    math::lse_accumulator<T> all = st.pos;
    all.merge(st.neg);
    st.lse = all.value();
    st.neg_scale = st.n_pos > 0 ? s : T(0);
  }
  UNITSFACE_HD T row_loss(const stats& st) const { return st.n_pos > 0 ? st.lse : T(0); }
  /// The driver's lane form of the statistics pass: every negative adds negative_logit to
  /// st.neg, and nothing else.
  UNITSFACE_HD bool negatives_in_lse(int) const { return true; }
  UNITSFACE_HD UNITSFACE_LANE_INLINE T negative_logit(T c, index_t) const { return s * c; }

  UNITSFACE_HD UNITSFACE_LANE_INLINE element_value<T> element(T c, pair_kind k, index_t,
                                                              const stats& st) const {
    using std::exp;
    if (k != pair_kind::positive) return negative_element(c, 0, st);
    if (st.n_pos == 0) return {T(0), T(0)};
    const T z = s * margin.value(c);
    const T p = exp(z - st.lse);
    return {-z, s * (p - T(1)) * margin.derivative(c)};
  }
  /// element() of a negative, which the driver's lane loop calls directly; no branch, and
  /// math::vexp, so that the loop vectorises.
  UNITSFACE_HD UNITSFACE_LANE_INLINE element_value<T> negative_element(T c, index_t,
                                                                       const stats& st) const {
    return {T(0), st.neg_scale * math::vexp(s * c - st.lse)};
  }
};

}  // namespace unitsface::losses::kernels
