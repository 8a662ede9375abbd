// unitsface: the sample-to-sample softmax kernel (CosFace over the references).
#pragma once

#include <cmath>

#include "unitsface/core/math.hpp"
#include "unitsface/losses/pairing.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::kernels {

/// l_i = mean_{p in P_i} log(1 + sum_n e^{s (c_in - c_ip + m)})
///     = mean_p softplus(L_i - s c_ip + s m),   L_i = LSE_n(s c_in).
/// With one positive this is exactly the official cross-entropy over s (c - m onehot). Two
/// passes: L_i first, then the positives' sums; an anchor without positives contributes 0.
/// Gradients: d/dc_ip = -s sigma(w_p) / |P|,  d/dc_in = s e^{s c_in - L} sum_p sigma(w_p) / |P|.
template <class T>
struct ss_softmax {
  /// Pass 1: L_i (the negatives' logsumexp); pass 2: the positives' sums of sigma(w_p) and
  /// softplus(w_p).
  struct stats {
    math::lse_accumulator<T> neg;
    T lse_neg = T(0);       // L_i, set by finish_pass after pass 1; not merged
    T sum_sigmoid = T(0);   // sum_p sigma(w_p)
    T sum_softplus = T(0);  // sum_p softplus(w_p)
    T n_pos = T(0);         // a count, as T: no padding bytes (row_statistics)
    // d loss / d c_in = neg_scale e^{s c_in - L_i}: s sum_p sigma(w_p) / |P|, 0 without
    // positives (set by finish_pass after pass 2, not merged): the element pass then has no
    // select on a float, which keeps g++ from inlining math::vexp into the lane loop.
    T neg_scale = T(0);
    UNITSFACE_HD void merge(const stats& o) {
      neg.merge(o.neg);
      sum_sigmoid += o.sum_sigmoid;
      sum_softplus += o.sum_softplus;
      n_pos += o.n_pos;
    }
    UNITSFACE_HD stats carried() const {
      stats c;
      c.lse_neg = lse_neg;
      return c;
    }
    UNITSFACE_HD void count(index_t p, index_t) { n_pos += T(p); }
  };
  static constexpr int stat_passes = 2;
  static constexpr bool has_bias = false;

  T s;
  T m;

  UNITSFACE_HD void accumulate(int pass, stats& st, T c, pair_kind k, index_t) const {
    if (pass == 1) {
      if (k == pair_kind::negative) st.neg.add(s * c);
    } else if (k == pair_kind::positive) {
      const T w = st.lse_neg - s * c + s * m;
      st.sum_sigmoid += math::sigmoid(w);
      st.sum_softplus += math::softplus(w);
    }
  }
  UNITSFACE_HD void finish_pass(int pass, stats& st) const {
    if (pass == 1) st.lse_neg = st.neg.value();
    if (pass == 2) st.neg_scale = st.n_pos > 0 ? s * st.sum_sigmoid / st.n_pos : T(0);
  }
  UNITSFACE_HD T row_loss(const stats& st) const {
    return st.n_pos > 0 ? st.sum_softplus / st.n_pos : T(0);
  }
  /// The driver's lane form of the statistics passes: in pass 1 every negative adds
  /// negative_logit to st.neg and nothing else; in pass 2 negatives add nothing.
  UNITSFACE_HD bool negatives_in_lse(int pass) const { return pass == 1; }
  UNITSFACE_HD UNITSFACE_LANE_INLINE T negative_logit(T c, index_t) const { return s * c; }

  UNITSFACE_HD UNITSFACE_LANE_INLINE element_value<T> element(T c, pair_kind k, index_t,
                                                              const stats& st) const {
    if (k != pair_kind::positive) return negative_element(c, 0, st);
    if (st.n_pos == 0) return {T(0), T(0)};
    return {T(0), -s * math::sigmoid(st.lse_neg - s * c + s * m) / st.n_pos};
  }
  /// element() of a negative, which the driver's lane loop calls directly; no branch, and
  /// math::vexp, so that the loop vectorises.
  UNITSFACE_HD UNITSFACE_LANE_INLINE element_value<T> negative_element(T c, index_t,
                                                                       const stats& st) const {
    return {T(0), st.neg_scale * math::vexp(s * c - st.lse_neg)};
  }
};

/// Only the statistics: LSE over the negatives of s c, per anchor (lse_neg). This is the
/// official data-dependent bias initialisation of USS and SS-BCE: b = mean_i LSE_n(s c_in).
template <class T>
struct negative_lse {
  struct stats {
    math::lse_accumulator<T> neg;
    T lse_neg = T(0);  // set by finish_pass; not merged
    T n_neg = T(0);    // a count, as T: no padding bytes (row_statistics)
    UNITSFACE_HD void merge(const stats& o) {
      neg.merge(o.neg);
      n_neg += o.n_neg;
    }
    UNITSFACE_HD stats carried() const {
      stats c;
      c.lse_neg = lse_neg;
      return c;
    }
    UNITSFACE_HD void count(index_t, index_t n) { n_neg += T(n); }
  };
  static constexpr int stat_passes = 1;
  static constexpr bool has_bias = false;
  T s;
  UNITSFACE_HD void accumulate(int, stats& st, T c, pair_kind k, index_t) const {
    if (k == pair_kind::negative) st.neg.add(s * c);
  }
  UNITSFACE_HD bool negatives_in_lse(int) const { return true; }
  UNITSFACE_HD UNITSFACE_LANE_INLINE T negative_logit(T c, index_t) const { return s * c; }
  UNITSFACE_HD void finish_pass(int, stats& st) const { st.lse_neg = st.neg.value(); }
  UNITSFACE_HD T row_loss(const stats&) const { return T(0); }
  UNITSFACE_HD UNITSFACE_LANE_INLINE element_value<T> element(T, pair_kind, index_t,
                                                              const stats&) const {
    return {T(0), T(0)};
  }
};

}  // namespace unitsface::losses::kernels
