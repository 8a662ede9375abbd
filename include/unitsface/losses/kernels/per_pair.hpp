// unitsface: the per-pair binary loss kernel (USS-m, SS-BCE, and the BCE and UCE heads).
#pragma once

#include "unitsface/core/math.hpp"
#include "unitsface/losses/pairing.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::kernels {

/// One softplus per pair (paper Eq. 12, the official `head.py` form):
///   positive p: softplus(-(s (c - m) - b_p)),   negative n: softplus(s c - b_n)
/// With `clamp` (official) the softplus argument's inner value is clamped to [-s, s] and
/// the gradient is zero strictly outside (PyTorch's clamp passes it on the closed interval).
/// The bias is one scalar (USS, UCE: `bias_per_column` false) or one per reference column
/// (SS-BCE, BCE head: the positive uses its own column's bias, which is b_{y_i}).
///
/// Every logit is linear in (s c - b), so d loss/d b = -(1/s) * d loss/d c element by
/// element: the driver derives the bias gradient from the cosine gradient and the kernel
/// does not report it separately.
template <class T>
struct per_pair {
  using stats = no_row_stats;  // no statistics passes
  static constexpr int stat_passes = 0;
  static constexpr bool has_bias = true;

  T s;
  T m;
  const T* bias;  // policy memory: 1 value, or one per reference column
  bool bias_per_column;
  bool clamp;

  UNITSFACE_HD T b(index_t j) const { return bias_per_column ? bias[j] : bias[0]; }
  UNITSFACE_HD void accumulate(int, stats&, T, pair_kind, index_t) const {}
  UNITSFACE_HD void finish_pass(int, stats&) const {}
  UNITSFACE_HD T row_loss(const stats&) const { return T(0); }

  UNITSFACE_HD UNITSFACE_LANE_INLINE element_value<T> element(T c, pair_kind k, index_t j,
                                                              const stats&) const {
    return pair_term(s, m, clamp, c, k == pair_kind::positive, b(j));
  }

  /// The term of one pair with bias value bj. Selects, not branches: the driver's lane loop
  /// vectorises it.
  UNITSFACE_HD UNITSFACE_LANE_INLINE static element_value<T> pair_term(T s, T m, bool clamp, T c,
                                                                       bool pos, T bj) {
    // z is the softplus argument with its sign: softplus(sign * z).
    const T z = pos ? s * (c - m) - bj : s * c - bj;
    const T zc = clamp ? math::clamp(z, -s, s) : z;
    // softplus(sign z) and its derivative sigma(sign z), from one exponential.
    const math::softplus_sigmoid<T> f = math::softplus_and_sigmoid(pos ? -zc : zc);
    const T d = (pos ? -s : s) * f.sigmoid;
    // Clamped: no gradient strictly outside [-s, s] (zc != z exactly there). Every select
    // picks between values of T, which vectorises where a select of a bool would not.
    return {f.softplus, !clamp || zc == z ? d : T(0)};
  }

  /// The lane loop's forms of this kernel (host code), holding their parameters by value: a
  /// parameter read through a pointer could alias the tile the loop writes, which keeps the
  /// loop scalar; so would a load of bias[0] per pair behind bias_per_column.
  struct scalar_bias_form {
    T s, m, b0;
    bool clamp;
    UNITSFACE_LANE_INLINE element_value<T> element(T c, pair_kind kind, index_t,
                                                   const stats&) const {
      return pair_term(s, m, clamp, c, kind == pair_kind::positive, b0);
    }
  };
  struct column_bias_form {
    T s, m;
    const T* bias;
    bool clamp;
    UNITSFACE_LANE_INLINE element_value<T> element(T c, pair_kind kind, index_t j,
                                                   const stats&) const {
      return pair_term(s, m, clamp, c, kind == pair_kind::positive, bias[j]);
    }
  };
  /// Calls f with the lane loop's form of this kernel (host memory only).
  template <class F>
  void with_lane_form(F&& f) const {
    if (bias_per_column) {
      f(column_bias_form{s, m, bias, clamp});
    } else {
      f(scalar_bias_form{s, m, bias[0], clamp});
    }
  }
};

}  // namespace unitsface::losses::kernels
