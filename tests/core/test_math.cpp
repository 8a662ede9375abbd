// math.hpp: softplus, sigmoid, softplus_and_sigmoid, clamp and infinity over the whole range
// of arguments. The oracle is the textbook formula evaluated in long double, where it does
// not overflow for |z| <= 1e4 (e^1e4 ~ 1e4343 < LDBL_MAX ~ 1e4932) and carries 11 more bits
// than double: log1p(exp(z)) for softplus and 1 / (1 + exp(-z)) for sigmoid. The library
// computes both differently (max(z, 0) + log1p(e^-|z|), and a branch on the sign of z).
#include "unitsface/core/math.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace unitsface;

namespace {

using ld = long double;

ld softplus_oracle(ld z) {
  return std::log1p(std::exp(z));
}
ld sigmoid_oracle(ld z) {
  return 1.0L / (1.0L + std::exp(-z));
}

/// |got - want| within `ulps` units of T's epsilon relative to want. The absolute slack of
/// one denormal covers results in T's subnormal range, whose spacing is denorm_min.
template <class T>
bool close_to(T got, ld want, ld ulps) {
  if (std::isinf(want)) return static_cast<ld>(got) == want;
  if (std::isnan(got)) return false;
  const ld eps = std::numeric_limits<T>::epsilon();
  const ld diff = std::fabs(static_cast<ld>(got) - want);
  return diff <=
         ulps * eps * std::fabs(want) + static_cast<ld>(std::numeric_limits<T>::denorm_min());
}

/// Arguments covering every regime: tiny, moderate, the float exp overflow (~88.7) and
/// underflow (~-103) thresholds, the double ones (~709.8, ~-745), PyTorch's softplus
/// threshold (20), s*cos for the scales in use (s up to 128 and |cos| <= 1), and |z| = 1e4,
/// with both signs; then seeded random values, log-uniform in magnitude up to 1e4.
template <class T>
std::vector<T> arguments() {
  std::vector<T> z = {T(0), -T(0)};
  const T fixed[] = {T(1e-30), T(1e-8), T(0.5),   T(1),    T(2),   T(15),  T(17),    T(20),
                     T(30),    T(36.7), T(40),    T(50),   T(64),  T(87),  T(88.7),  T(89),
                     T(103),   T(104),  T(127.9), T(128),  T(200), T(700), T(709.8), T(710),
                     T(745),   T(746),  T(1000),  T(5000), T(1e4)};
  for (T v : fixed) {
    z.push_back(v);
    z.push_back(-v);
  }
  z.push_back(std::numeric_limits<T>::denorm_min());
  z.push_back(-std::numeric_limits<T>::denorm_min());
  std::mt19937_64 rng(0x5eed'50f7);
  std::uniform_real_distribution<double> log_mag(-30.0, 4.0), u(-1.0, 1.0);
  for (int k = 0; k < 2000; ++k) {
    const T m = static_cast<T>(std::pow(10.0, log_mag(rng)));
    z.push_back(k % 2 ? m : -m);
  }
  for (double s : {30.0, 64.0, 128.0}) {
    for (int k = 0; k < 300; ++k) z.push_back(static_cast<T>(s * u(rng)));
    z.push_back(static_cast<T>(s));
    z.push_back(static_cast<T>(-s));
  }
  return z;
}

}  // namespace

TEST_CASE("the long double oracle is wide enough", "[core][math]") {
  // The oracle must neither overflow at |z| = 1e4 nor round like double.
  STATIC_REQUIRE(std::numeric_limits<ld>::digits > std::numeric_limits<double>::digits);
  STATIC_REQUIRE(std::numeric_limits<ld>::max_exponent10 > 4343);
  CHECK(std::isfinite(std::exp(10000.0L)));
  CHECK(std::exp(-10000.0L) > 0.0L);
}

TEMPLATE_TEST_CASE("softplus matches log1p(exp(z)) in long double", "[core][math]", float, double) {
  using T = TestType;
  for (T z : arguments<T>()) {
    const T got = math::softplus(z);
    const ld want = softplus_oracle(z);
    CAPTURE(z, got, static_cast<double>(want));
    CHECK(close_to(got, want, 4));
  }
}

TEMPLATE_TEST_CASE("softplus at the extremes", "[core][math]", float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  CHECK(math::softplus(inf) == inf);
  CHECK(math::softplus(-inf) == T(0));
  CHECK_FALSE(std::signbit(math::softplus(-inf)));
  // Above the exp overflow threshold the naive form is inf; here the value is z itself
  // (e^-z is below half an ulp of z).
  CHECK(math::softplus(T(1e4)) == T(1e4));
  CHECK(math::softplus(T(128)) == T(128));
  CHECK(math::softplus(T(-1e4)) == T(0));
  // Below the log1p-of-1 cancellation: softplus(z) ~ e^z, not 0 (log(1 + e^-20) is 0 in float
  // and loses 7 digits in double).
  CHECK(math::softplus(T(-20)) > T(0));
  CHECK(close_to(math::softplus(T(-20)), softplus_oracle(T(-20)), 4));
  // At 20 (PyTorch's threshold) the value differs from z by e^-20 ~ 2e-9, visible in double.
  CHECK(close_to(math::softplus(T(20)), softplus_oracle(T(20)), 4));
  CHECK(std::isnan(math::softplus(std::numeric_limits<T>::quiet_NaN())));
}

TEMPLATE_TEST_CASE("softplus properties", "[core][math]", float, double) {
  using T = TestType;
  const T eps = std::numeric_limits<T>::epsilon();
  CHECK(close_to(math::softplus(T(0)), std::log(2.0L), 1));
  auto z = arguments<T>();
  for (T x : z) {
    const T p = math::softplus(x), m = math::softplus(-x);
    CAPTURE(x, p, m);
    // softplus(x) - softplus(-x) = x, to the rounding of the larger term.
    CHECK(std::fabs((p - m) - x) <= 2 * eps * std::max(p, m));
    // softplus(x) = max(x, 0) + a non-negative term.
    CHECK(p >= std::max(x, T(0)));
  }
  std::sort(z.begin(), z.end());
  for (std::size_t k = 1; k < z.size(); ++k) {
    CAPTURE(z[k - 1], z[k]);
    CHECK(math::softplus(z[k - 1]) <= math::softplus(z[k]));
  }
}

TEMPLATE_TEST_CASE("sigmoid matches 1 / (1 + exp(-z)) in long double", "[core][math]", float,
                   double) {
  using T = TestType;
  for (T z : arguments<T>()) {
    const T got = math::sigmoid(z);
    const ld want = sigmoid_oracle(z);
    CAPTURE(z, got, static_cast<double>(want));
    CHECK(close_to(got, want, 4));
  }
}

TEMPLATE_TEST_CASE("sigmoid at the extremes and its symmetry", "[core][math]", float, double) {
  using T = TestType;
  const T inf = std::numeric_limits<T>::infinity();
  const T eps = std::numeric_limits<T>::epsilon();
  CHECK(math::sigmoid(T(0)) == T(0.5));
  CHECK(math::sigmoid(inf) == T(1));
  CHECK(math::sigmoid(-inf) == T(0));
  CHECK(math::sigmoid(T(1e4)) == T(1));
  CHECK(math::sigmoid(T(-1e4)) == T(0));
  // e^-z overflows for z < -88.7 (float) and z < -709.8 (double): the result is e^z (or 0
  // where that underflows), never 1 / (1 + inf) turned into NaN by a rewrite.
  CHECK(close_to(math::sigmoid(T(-128)), sigmoid_oracle(T(-128)), 4));
  CHECK(math::sigmoid(T(-800)) == T(0));
  // And e^z overflows for z > 88.7 (float): e / (1 + e) would be inf / inf.
  CHECK(math::sigmoid(T(800)) == T(1));
  // For moderately negative z the result is the tiny e^z, with full relative accuracy.
  CHECK(close_to(math::sigmoid(T(-60)), sigmoid_oracle(T(-60)), 4));
  CHECK(std::isnan(math::sigmoid(std::numeric_limits<T>::quiet_NaN())));
  auto z = arguments<T>();
  for (T x : z) {
    const T p = math::sigmoid(x), m = math::sigmoid(-x);
    CAPTURE(x, p, m);
    CHECK(p >= T(0));
    CHECK(p <= T(1));
    CHECK(std::fabs(p + m - T(1)) <= 2 * eps);
  }
  std::sort(z.begin(), z.end());
  for (std::size_t k = 1; k < z.size(); ++k) {
    CAPTURE(z[k - 1], z[k]);
    CHECK(math::sigmoid(z[k - 1]) <= math::sigmoid(z[k]));
  }
}

TEMPLATE_TEST_CASE("softplus_and_sigmoid agrees with the oracle and the separate functions",
                   "[core][math]", float, double) {
  using T = TestType;
  for (T z : arguments<T>()) {
    const auto both = math::softplus_and_sigmoid(z);
    CAPTURE(z, both.softplus, both.sigmoid);
    CHECK(close_to(both.softplus, softplus_oracle(z), 4));
    CHECK(close_to(both.sigmoid, sigmoid_oracle(z), 4));
    // The losses mix the pair and the separate functions: they must agree to an ulp or two.
    CHECK(close_to(both.softplus, static_cast<ld>(math::softplus(z)), 2));
    CHECK(close_to(both.sigmoid, static_cast<ld>(math::sigmoid(z)), 2));
  }
  const T inf = std::numeric_limits<T>::infinity();
  CHECK(math::softplus_and_sigmoid(inf).softplus == inf);
  CHECK(math::softplus_and_sigmoid(inf).sigmoid == T(1));
  CHECK(math::softplus_and_sigmoid(-inf).softplus == T(0));
  CHECK(math::softplus_and_sigmoid(-inf).sigmoid == T(0));
  CHECK(math::softplus_and_sigmoid(T(0)).sigmoid == T(0.5));
  CHECK(close_to(math::softplus_and_sigmoid(T(-128)).sigmoid, sigmoid_oracle(T(-128)), 4));
  CHECK(math::softplus_and_sigmoid(T(-800)).sigmoid == T(0));
  CHECK(math::softplus_and_sigmoid(T(128)).softplus == T(128));
}

TEMPLATE_TEST_CASE("vexp is within 2 ulp of exp over the whole range", "[core][math]", float,
                   double) {
  using T = TestType;
  std::vector<T> xs = arguments<T>();
  // A dense sweep across every binade of the result, the subnormal tail, and both ends.
  for (int k = -200000; k <= 200000; ++k) xs.push_back(static_cast<T>(k * 0.0037));
  for (int k = 0; k <= 20000; ++k) xs.push_back(static_cast<T>(-745.2 + k * 0.07471));
  const T inf = std::numeric_limits<T>::infinity();
  ld worst = 0;
  for (T x : xs) {
    const ld want = std::exp(static_cast<ld>(x));
    const T got = math::vexp(x);
    CAPTURE(x, got, want);
    const T rounded = static_cast<T>(want);
    if (std::isinf(rounded)) {
      CHECK(got == inf);
      continue;
    }
    CHECK(close_to(got, want, 2));
    if (rounded >= std::numeric_limits<T>::min()) {
      worst = std::max(worst, std::fabs(static_cast<ld>(got) - want) /
                                  (std::numeric_limits<T>::epsilon() * want));
    }
  }
  INFO("largest error among normal results: " << worst << " ulp");
  CHECK(worst < 2);
  CHECK(math::vexp(T(0)) == T(1));
  CHECK(math::vexp(-inf) == T(0));
  CHECK(math::vexp(inf) == inf);
  CHECK(std::isnan(math::vexp(std::numeric_limits<T>::quiet_NaN())));
}

TEMPLATE_TEST_CASE("vlog1p_01 is within 2 ulp of log1p on [0, 1]", "[core][math]", float, double) {
  using T = TestType;
  std::vector<T> es = {T(0), T(1), std::numeric_limits<T>::denorm_min(),
                       std::numeric_limits<T>::min(), std::numeric_limits<T>::epsilon()};
  for (int k = 0; k <= 200000; ++k) es.push_back(static_cast<T>(k / 200000.0));
  std::mt19937_64 rng(0x10f1);
  std::uniform_real_distribution<double> log_mag(-44.0, 0.0);
  for (int k = 0; k < 20000; ++k) es.push_back(static_cast<T>(std::pow(10.0, log_mag(rng))));
  for (T e : es) {
    if (!(e >= T(0) && e <= T(1))) continue;
    CAPTURE(e);
    CHECK(close_to(math::vlog1p_01(e), std::log1p(static_cast<ld>(e)), 2));
  }
  CHECK(math::vlog1p_01(T(0)) == T(0));
}

TEMPLATE_TEST_CASE("clamp and infinity", "[core][math]", float, double) {
  using T = TestType;
  const T inf = math::infinity<T>();
  CHECK(inf == std::numeric_limits<T>::infinity());
  CHECK(-inf < std::numeric_limits<T>::lowest());
  CHECK(math::clamp(T(0.25), T(-1), T(1)) == T(0.25));
  CHECK(math::clamp(T(-1), T(-1), T(1)) == T(-1));
  CHECK(math::clamp(T(1), T(-1), T(1)) == T(1));
  CHECK(math::clamp(T(1.5), T(-1), T(1)) == T(1));
  CHECK(math::clamp(T(-1.5), T(-1), T(1)) == T(-1));
  CHECK(math::clamp(T(1e4), T(-64), T(64)) == T(64));
  CHECK(math::clamp(inf, T(-64), T(64)) == T(64));
  CHECK(math::clamp(-inf, T(-64), T(64)) == T(-64));
  // The smallest step past a bound is clamped (a < / <= slip would let it through).
  CHECK(math::clamp(std::nextafter(T(1), T(2)), T(-1), T(1)) == T(1));
  CHECK(math::clamp(std::nextafter(T(-1), T(-2)), T(-1), T(1)) == T(-1));
  // A NaN is passed on, not turned into a bound: a clamped NaN cosine would otherwise give a
  // finite, wrong loss instead of a NaN the caller can see.
  CHECK(std::isnan(math::clamp(std::numeric_limits<T>::quiet_NaN(), T(-1), T(1))));
}
