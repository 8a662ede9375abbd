// unitsface: the scalar math every loss is built from, written once and callable from host
// and device code (UNITSFACE_HD): stable softplus, logistic, and an online logsumexp.
#pragma once

#include <cmath>
#include <limits>

#include "unitsface/core/config.hpp"

namespace unitsface::math {

template <class T>
UNITSFACE_HD inline T infinity() {
  return std::numeric_limits<T>::infinity();
}

/// softplus(z) = log(1 + e^z), computed as max(z, 0) + log1p(e^-|z|): exact to rounding for
/// every z, where the naive form overflows above ~88 (float) and PyTorch's default
/// F.softplus returns z itself above 20 (an error up to 2e-9). softplus(-inf) = 0.
template <class T>
UNITSFACE_HD inline T softplus(T z) {
  using std::exp;
  using std::fabs;
  using std::log1p;
  if (z == -infinity<T>()) return T(0);
  return (z > T(0) ? z : T(0)) + log1p(exp(-fabs(z)));
}

/// The logistic function sigma(z) = 1 / (1 + e^-z), the derivative of softplus, evaluated
/// without overflow on either side.
template <class T>
UNITSFACE_HD inline T sigmoid(T z) {
  using std::exp;
  if (z >= T(0)) return T(1) / (T(1) + exp(-z));
  const T e = exp(z);
  return e / (T(1) + e);
}

/// softplus(z) and sigma(z) together, from one exponential e = exp(-|z|):
///   softplus(z) = max(z, 0) + log1p(e),  sigma(z) = 1 / (1 + e) (z >= 0), e / (1 + e) (z < 0).
/// The per-pair losses need both for every pair; sharing the exponential saves a third of
/// their transcendental work.
template <class T>
struct softplus_sigmoid {
  T softplus;
  T sigmoid;
};
template <class T>
UNITSFACE_HD inline softplus_sigmoid<T> softplus_and_sigmoid(T z) {
  using std::exp;
  using std::fabs;
  using std::log1p;
  const T e = exp(-fabs(z));
  const T inv = T(1) / (T(1) + e);
  return {(z > T(0) ? z : T(0)) + log1p(e), z >= T(0) ? inv : e * inv};
}

template <class T>
UNITSFACE_HD inline T clamp(T z, T lo, T hi) {
  return z < lo ? lo : (z > hi ? hi : z);
}

/// Online logsumexp: accumulates log(sum_k e^{v_k}) one value at a time, keeping the running
/// maximum so that no exponential overflows. Two accumulators merge exactly, which is what
/// lets a loss run over shards of the references and combine the row statistics afterwards.
/// The empty sum is log(0) = -inf.
template <class T>
struct lse_accumulator {
  T max = -infinity<T>();
  T sum = T(0);  // sum of e^{v - max}

  UNITSFACE_HD void add(T v) {
    using std::exp;
    // e^-inf = 0 adds nothing; computing it as exp(v - max) would give exp(NaN) on an empty
    // state (max = -inf), and the NaN would stay in the sum.
    if (v == -infinity<T>()) return;
    if (v <= max) {
      sum += exp(v - max);
    } else {
      sum = sum * exp(max - v) + T(1);
      max = v;
    }
  }
  UNITSFACE_HD void merge(const lse_accumulator& o) {
    using std::exp;
    if (o.max == -infinity<T>()) return;
    if (max == -infinity<T>()) {
      *this = o;
      return;
    }
    if (o.max <= max) {
      sum += o.sum * exp(o.max - max);
    } else {
      sum = sum * exp(max - o.max) + o.sum;
      max = o.max;
    }
  }
  UNITSFACE_HD T value() const {
    using std::log;
    if (max == -infinity<T>()) return -infinity<T>();
    return max + log(sum);
  }
};

}  // namespace unitsface::math
