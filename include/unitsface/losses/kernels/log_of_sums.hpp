// unitsface: the log-of-sums form of USS-m (a tighter bound than the per-pair form).
#pragma once

#include <cmath>

#include "unitsface/core/math.hpp"
#include "unitsface/losses/pairing.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::kernels {

/// l_i = log(1 + sum_p e^{-(s (c_ip - m) - b)}) + log(1 + sum_n e^{s c_in - b})
///     = softplus(LSE_p(-u_p)) + softplus(LSE_n(v_n)),
/// computed through two online logsumexps (one pass over the references), never clamped.
/// d l/d c_ip = -s e^{-u_p - LSE_p} sigma(LSE_p);  d l/d c_in = s e^{v_n - LSE_n} sigma(LSE_n).
template <class T>
struct log_of_sums {
  /// The two logsumexps, and their values once merged (the element pass takes no logarithm).
  struct stats {
    math::lse_accumulator<T> pos;  // of -u_p
    math::lse_accumulator<T> neg;  // of v_n
    T lse_pos = T(0);              // LSE_p, set by finish_pass; not merged
    T lse_neg = T(0);              // LSE_n, likewise
    UNITSFACE_HD void merge(const stats& o) {
      pos.merge(o.pos);
      neg.merge(o.neg);
    }
    UNITSFACE_HD stats carried() const {
      stats c;
      c.lse_pos = lse_pos;
      c.lse_neg = lse_neg;
      return c;
    }
    UNITSFACE_HD void count(index_t, index_t) {}
  };
  static constexpr int stat_passes = 1;
  static constexpr bool has_bias = true;

  T s;
  T m;
  const T* bias;
  bool bias_per_column;

  UNITSFACE_HD T b(index_t j) const { return bias_per_column ? bias[j] : bias[0]; }

  UNITSFACE_HD void accumulate(int, stats& st, T c, pair_kind k, index_t j) const {
    if (k == pair_kind::positive) {
      st.pos.add(-(s * (c - m) - b(j)));
    } else {
      st.neg.add(s * c - b(j));
    }
  }
  UNITSFACE_HD void finish_pass(int, stats& st) const {
    st.lse_pos = st.pos.value();
    st.lse_neg = st.neg.value();
  }
  UNITSFACE_HD T row_loss(const stats& st) const {
    return math::softplus(st.lse_pos) + math::softplus(st.lse_neg);
  }
  UNITSFACE_HD element_value<T> element(T c, pair_kind k, index_t j, const stats& st) const {
    using std::exp;
    if (k == pair_kind::positive) {
      const T nu = -(s * (c - m) - b(j));
      return {T(0), -s * exp(nu - st.lse_pos) * math::sigmoid(st.lse_pos)};
    }
    const T v = s * c - b(j);
    return {T(0), s * exp(v - st.lse_neg) * math::sigmoid(st.lse_neg)};
  }
};

}  // namespace unitsface::losses::kernels
