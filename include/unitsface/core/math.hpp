// unitsface: the scalar math every loss is built from, written once and callable from host
// and device code (UNITSFACE_HD): stable softplus, logistic, and an online logsumexp.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "unitsface/core/config.hpp"

namespace unitsface::math {

template <class T>
UNITSFACE_HD inline T infinity() {
  return std::numeric_limits<T>::infinity();
}

namespace detail {

// The constants of vexp for one floating-point type: below `lo` the result is 0, above `hi`
// it is +inf (the first and last arguments whose exponential is representable); `taylor` is
// the degree of the Taylor polynomial of e^r on |r| <= ln2 / 2, chosen so that its truncation
// error (0.347^(d+1) / (d+1)!) is far below half an ulp: 5e-9 for float's 7, 4e-18 for
// double's 13; `series` is the number of terms of the atanh series in vlog1p_01, whose
// truncation error is below (1/9)^series / (2 series + 1): 1.4e-9 and 1.7e-18.
template <class T>
struct poly_constants;
template <>
struct poly_constants<float> {
  using bits = std::int32_t;
  static constexpr int mantissa = 23, exponent_bias = 127, taylor = 7, series = 8;
  static constexpr float lo = -103.972084f, hi = 88.7228394f;
  static constexpr float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  static constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860677e-06f;
};
template <>
struct poly_constants<double> {
  using bits = std::int64_t;
  static constexpr int mantissa = 52, exponent_bias = 1023, taylor = 13, series = 17;
  static constexpr double lo = -745.1332191019412, hi = 709.782712893384;
  static constexpr double shifter = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double ln2_hi = 0.6931471803691238, ln2_lo = 1.9082149292705877e-10;
};

template <class T>
inline constexpr bool has_poly = std::is_same_v<T, float> || std::is_same_v<T, double>;

// Polynomial coefficients, computed at compile time in long double and rounded once:
// 1 / i! for i = 0 .. taylor, and 1 / (2k + 1) for k = 0 .. series - 1.
template <class T, std::size_t N, class F>
constexpr std::array<T, N> coefficients(F f) {
  std::array<T, N> c{};
  for (std::size_t i = 0; i < N; ++i) c[i] = static_cast<T>(f(i));
  return c;
}
template <class T>
inline constexpr auto taylor_coefficients =
    coefficients<T, poly_constants<T>::taylor + 1>([](std::size_t i) {
      long double f = 1;
      for (std::size_t k = 2; k <= i; ++k) f *= static_cast<long double>(k);
      return 1 / f;
    });
template <class T>
inline constexpr auto atanh_coefficients = coefficients<T, poly_constants<T>::series>(
    [](std::size_t k) { return 1 / static_cast<long double>(2 * k + 1); });

// sum c[i] x^i by Horner's rule, unrolled by the fold (no loop for the vectoriser to see).
template <class T, std::size_t N, std::size_t... I>
UNITSFACE_LANE_INLINE inline T horner(T x, const std::array<T, N>& c, std::index_sequence<I...>) {
  T p = c[N - 1];
  ((p = p * x + c[N - 2 - I]), ...);
  return p;
}
template <class T, std::size_t N>
UNITSFACE_LANE_INLINE inline T horner(T x, const std::array<T, N>& c) {
  return horner(x, c, std::make_index_sequence<N - 1>());
}

// 2^k for an integer k with 2^k normal, from its bits.
template <class T>
UNITSFACE_LANE_INLINE inline T pow2i(typename poly_constants<T>::bits k) {
  using C = poly_constants<T>;
  return std::bit_cast<T>(static_cast<typename C::bits>((k + C::exponent_bias) << C::mantissa));
}

}  // namespace detail

/// e^x by range reduction and a polynomial, written without branches or library calls so
/// that a compiler vectorises a loop of it (g++ and clang at -O2 and above, at the width the
/// caller's flags allow; libm's expf / exp are calls and keep such a loop scalar). Accuracy,
/// measured over the whole range in tests/core/test_math.cpp: within 2 ulp of the exact
/// value (libm's: 1); 0 below the smallest subnormal's logarithm, +inf above the largest
/// finite's, NaN for NaN. x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so that
/// n ln2_hi is exact), e^r by Taylor's polynomial, 2^n applied as two factors 2^(n/2) and
/// 2^(n - n/2), each a normal number over the whole range, subnormal results included.
/// Device code and types other than float / double use std::exp; so does host code compiled
/// with UNITSFACE_LIBM_EXP (to compare).
template <class T>
UNITSFACE_HD UNITSFACE_LANE_INLINE inline T vexp(T x) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(UNITSFACE_LIBM_EXP)
  using std::exp;
  return exp(x);
#else
  if constexpr (!detail::has_poly<T>) {
    using std::exp;
    return exp(x);
  } else {
    using C = detail::poly_constants<T>;
    using I = typename C::bits;
    const T xc = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
    // t's low mantissa bits hold n = round(x / ln2) once the shifter is added.
    const T t = xc * T(1.4426950408889634) + C::shifter;
    const T n = t - C::shifter;
    const I k = std::bit_cast<I>(t) - std::bit_cast<I>(C::shifter);
    const T r = (xc - n * C::ln2_hi) - n * C::ln2_lo;
    const T p = detail::horner(r, detail::taylor_coefficients<T>);  // e^r
    const I k1 = k >> 1;
    T y = p * detail::pow2i<T>(k1) * detail::pow2i<T>(k - k1);
    y = x < C::lo ? T(0) : y;
    y = x > C::hi ? infinity<T>() : y;
    return x != x ? x : y;
  }
#endif
}

/// log(1 + e) for e in [0, 1] (what softplus needs: e = e^-|z|), branch-free as vexp:
/// log1p(e) = 2 atanh(w) with w = e / (2 + e) in [0, 1/3], by the odd series
/// 2 w (1 + w^2/3 + w^4/5 + ...). w is formed from e itself, not from a rounded 1 + e, so
/// tiny e keep their full relative precision. Within 2 ulp on [0, 1] (tested).
template <class T>
UNITSFACE_HD UNITSFACE_LANE_INLINE inline T vlog1p_01(T e) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(UNITSFACE_LIBM_EXP)
  using std::log1p;
  return log1p(e);
#else
  if constexpr (!detail::has_poly<T>) {
    using std::log1p;
    return log1p(e);
  } else {
    // 2 w = e q with q = 2 / (2 + e) in [2/3, 1]: e enters the result in one product, so a
    // subnormal e is rounded once (forming w = e / (2 + e) first would round it twice).
    const T q = T(2) / (T(2) + e);
    const T w = T(0.5) * e * q;
    return e * (q * detail::horner(w * w, detail::atanh_coefficients<T>));
  }
#endif
}

/// softplus(z) = log(1 + e^z), computed as max(z, 0) + log1p(e^-|z|): exact to rounding for
/// every z, where the naive form overflows above ~88 (float) and PyTorch's default
/// F.softplus returns z itself above 20 (an error up to 2e-9). softplus(-inf) = 0.
template <class T>
UNITSFACE_HD UNITSFACE_LANE_INLINE inline T softplus(T z) {
  using std::exp;
  using std::fabs;
  using std::log1p;
  if (z == -infinity<T>()) return T(0);
  return (z > T(0) ? z : T(0)) + log1p(exp(-fabs(z)));
}

/// The logistic function sigma(z) = 1 / (1 + e^-z), the derivative of softplus, evaluated
/// without overflow on either side.
template <class T>
UNITSFACE_HD UNITSFACE_LANE_INLINE inline T sigmoid(T z) {
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
UNITSFACE_HD UNITSFACE_LANE_INLINE inline softplus_sigmoid<T> softplus_and_sigmoid(T z) {
  const T e = vexp(z > T(0) ? -z : z);
  const T inv = T(1) / (T(1) + e);
  return {(z > T(0) ? z : T(0)) + vlog1p_01(e), z >= T(0) ? inv : e * inv};
}

template <class T>
UNITSFACE_HD UNITSFACE_LANE_INLINE inline T clamp(T z, T lo, T hi) {
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
