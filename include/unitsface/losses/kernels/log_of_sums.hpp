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
  static constexpr int stat_passes = 1;
  static constexpr bool has_bias = true;

  T s;
  T m;
  const T* bias;
  bool bias_per_column;

  UNITSFACE_HD T b(index_t j) const { return bias_per_column ? bias[j] : bias[0]; }

  UNITSFACE_HD void accumulate(int, row_stats<T>& st, T c, pair_kind k, index_t j) const {
    if (k == pair_kind::positive) {
      st.pos.add(-(s * (c - m) - b(j)));
    } else {
      st.neg.add(s * c - b(j));
    }
  }
  UNITSFACE_HD void finish_pass(int, row_stats<T>& st) const {
    st.cache0 = st.pos.value();
    st.cache1 = st.neg.value();
  }
  UNITSFACE_HD T row_loss(const row_stats<T>& st) const {
    return math::softplus(st.cache0) + math::softplus(st.cache1);
  }
  UNITSFACE_HD element_value<T> element(T c, pair_kind k, index_t j, const row_stats<T>& st) const {
    using std::exp;
    if (k == pair_kind::positive) {
      const T nu = -(s * (c - m) - b(j));
      return {T(0), -s * exp(nu - st.cache0) * math::sigmoid(st.cache0)};
    }
    const T v = s * c - b(j);
    return {T(0), s * exp(v - st.cache1) * math::sigmoid(st.cache1)};
  }
};

}  // namespace unitsface::losses::kernels
