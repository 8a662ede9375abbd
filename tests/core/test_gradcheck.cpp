// gradcheck.hpp: the central-difference gradient and the comparison with an analytic one.
// The functions below have gradients derived by hand; the finite difference of a cubic is
// known in closed form, ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2, which pins down the step.
#include "unitsface/core/gradcheck.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "thrown_argument.hpp"

using namespace unitsface;
using unitsface::test::thrown_argument;

namespace {

/// f(x) = log(sum_k e^(a_k x_k)) + sum_k w_k x_k^2 / 2 + x_0 x_1, a smooth function whose
/// gradient mixes every coordinate:
///   df/dx_k = a_k softmax_k + w_k x_k + [k = 0] x_1 + [k = 1] x_0.
struct test_function {
  std::vector<double> a, w;

  double operator()(std::span<const double> x) const {
    double m = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < x.size(); ++k) m = std::max(m, a[k] * x[k]);
    double s = 0, q = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      s += std::exp(a[k] * x[k] - m);
      q += w[k] * x[k] * x[k];
    }
    return m + std::log(s) + 0.5 * q + x[0] * x[1];
  }
  std::vector<double> gradient(const std::vector<double>& x) const {
    double m = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < x.size(); ++k) m = std::max(m, a[k] * x[k]);
    double s = 0;
    for (std::size_t k = 0; k < x.size(); ++k) s += std::exp(a[k] * x[k] - m);
    std::vector<double> g(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
      g[k] = a[k] * std::exp(a[k] * x[k] - m) / s + w[k] * x[k];
    }
    g[0] += x[1];
    g[1] += x[0];
    return g;
  }
};

struct problem {
  test_function f;
  std::vector<double> x;
};

problem make_problem(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-2.0, 2.0), pos(0.5, 3.0);
  problem p;
  p.f.a.resize(n);
  p.f.w.resize(n);
  p.x.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    p.f.a[k] = u(rng);
    p.f.w[k] = pos(rng);
    p.x[k] = u(rng);
  }
  return p;
}

/// The result's fields agree with each other and with its numeric gradient.
void check_consistent(const gradcheck_result& r, const std::vector<double>& analytic,
                      const gradcheck_options& o) {
  REQUIRE(r.numeric_gradient.size() == analytic.size());
  REQUIRE(r.worst_index >= 0);
  REQUIRE(r.worst_index < static_cast<index_t>(analytic.size()));
  const auto w = static_cast<std::size_t>(r.worst_index);
  CHECK(r.analytic == analytic[w]);
  CHECK(r.numeric == r.numeric_gradient[w]);
  CHECK(r.max_abs_error == std::fabs(r.analytic - r.numeric));
  double scale = o.scale_floor;
  for (std::size_t k = 0; k < analytic.size(); ++k) {
    scale = std::max(scale, std::fabs(r.numeric_gradient[k]));
    // worst_index holds the largest absolute error.
    CHECK(std::fabs(analytic[k] - r.numeric_gradient[k]) <= r.max_abs_error);
  }
  CHECK(r.scale == scale);
  CHECK(r.max_rel_error == r.max_abs_error / r.scale);
  CHECK(r.passed == (r.max_rel_error < o.tolerance));
  const std::string msg = r.message();
  CHECK(msg.rfind(r.passed ? "gradcheck passed" : "gradcheck FAILED", 0) == 0);
  CHECK(msg.find("worst element " + std::to_string(r.worst_index) + " ") != std::string::npos);
}

}  // namespace

TEST_CASE("gradcheck's default options are the documented ones", "[core][gradcheck]") {
  const gradcheck_options o;
  // cbrt(2^-52) = 2^(-52/3) ~ 6.06e-6.
  CHECK(o.rel_step == Approx(std::exp2(-52.0 / 3.0)).epsilon(1e-12));
  CHECK(o.tolerance == 1e-6);
  CHECK(o.scale_floor == 1e-12);
}

TEST_CASE("numeric_gradient steps by rel_step times the larger of |x| and 1", "[core][gradcheck]") {
  // f = sum_k c_k x_k^3: the central difference is c_k (3 x_k^2 + h_k^2) exactly, so the
  // h_k^2 term shows the step. A large rel_step makes it far larger than rounding.
  const std::vector<double> c = {1.0, -2.0, 0.5, 3.0, 1.5};
  const std::vector<double> x = {0.5, -3.0, 0.0, 12.0, -0.25};
  auto f = [&](std::span<const double> v) {
    double s = 0;
    for (std::size_t k = 0; k < v.size(); ++k) s += c[k] * v[k] * v[k] * v[k];
    return s;
  };
  for (double rel_step : {1e-2, 1e-3}) {
    gradcheck_options o;
    o.rel_step = rel_step;
    const auto g = numeric_gradient(f, x, o);
    REQUIRE(g.size() == x.size());
    for (std::size_t k = 0; k < x.size(); ++k) {
      const double h = rel_step * std::max(std::fabs(x[k]), 1.0);
      const double want = c[k] * (3 * x[k] * x[k] + h * h);
      CAPTURE(rel_step, k, g[k], want);
      CHECK(std::fabs(g[k] - want) <= 1e-9 * std::max(std::fabs(want), 1.0));
    }
  }
}

TEST_CASE("numeric_gradient perturbs one coordinate at a time, both ways", "[core][gradcheck]") {
  const std::vector<double> x = {0.3, -4.0, 2.5};
  std::vector<std::vector<double>> seen;
  auto f = [&](std::span<const double> v) {
    seen.emplace_back(v.begin(), v.end());
    return v[0] + 2 * v[1] + 3 * v[2];
  };
  const gradcheck_options o;
  const auto g = numeric_gradient(f, x, o);
  // Central differences: two evaluations per coordinate, at x_k + h and x_k - h, with every
  // other coordinate at its own value (a forward difference would need n + 1).
  REQUIRE(seen.size() == 2 * x.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double h = o.rel_step * std::max(std::fabs(x[k]), 1.0);
    bool plus = false, minus = false;
    for (const auto& v : seen) {
      bool others_equal = true;
      for (std::size_t j = 0; j < x.size(); ++j) others_equal &= (j == k || v[j] == x[j]);
      if (!others_equal) continue;
      plus |= v[k] == x[k] + h;
      minus |= v[k] == x[k] - h;
    }
    CAPTURE(k);
    CHECK(plus);
    CHECK(minus);
  }
  // Linear: the difference is the slope up to rounding.
  CHECK(g[0] == Approx(1.0).epsilon(1e-9));
  CHECK(g[1] == Approx(2.0).epsilon(1e-9));
  CHECK(g[2] == Approx(3.0).epsilon(1e-9));
}

TEST_CASE("a correct analytic gradient passes", "[core][gradcheck]") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const problem p = make_problem(12, seed);
    const auto analytic = p.f.gradient(p.x);
    const gradcheck_options o;
    const auto r = gradcheck(p.f, p.x, analytic, o);
    CAPTURE(seed, r.message());
    CHECK(r.passed);
    // The central difference with the default step is accurate to ~1e-10 here: far below
    // the tolerance, so the test is not passing by a hair.
    CHECK(r.max_rel_error < 1e-8);
    check_consistent(r, analytic, o);
  }
}

TEST_CASE("one wrong element fails, and the report points at it", "[core][gradcheck]") {
  const problem p = make_problem(9, 42);
  const auto good = p.f.gradient(p.x);
  const gradcheck_options o;
  const double scale = gradcheck(p.f, p.x, good, o).scale;
  // Every position, the first and the last included.
  for (std::size_t bad = 0; bad < good.size(); ++bad) {
    for (double rel : {1e-4, -3e-6, 0.5}) {
      auto analytic = good;
      analytic[bad] += rel * scale;
      const auto r = gradcheck(p.f, p.x, analytic, o);
      CAPTURE(bad, rel, r.message());
      CHECK_FALSE(r.passed);
      CHECK(r.worst_index == static_cast<index_t>(bad));
      CHECK(r.analytic == analytic[bad]);
      CHECK(std::fabs(r.numeric - good[bad]) <= 1e-8 * scale);
      CHECK(r.max_rel_error == Approx(std::fabs(rel)).epsilon(1e-3));
      check_consistent(r, analytic, o);
    }
  }
}

TEST_CASE("the tolerance is a bound on the error relative to the gradient's scale",
          "[core][gradcheck]") {
  const problem p = make_problem(6, 7);
  const auto good = p.f.gradient(p.x);
  gradcheck_options o;
  const double scale = gradcheck(p.f, p.x, good, o).scale;
  auto below = good, above = good;
  below[4] += 0.5 * o.tolerance * scale;
  above[4] += 2.0 * o.tolerance * scale;
  CHECK(gradcheck(p.f, p.x, below, o).passed);
  CHECK_FALSE(gradcheck(p.f, p.x, above, o).passed);
  o.tolerance = 1e-5;
  CHECK(gradcheck(p.f, p.x, above, o).passed);
}

TEST_CASE("elements near zero are judged on the scale of the whole gradient", "[core][gradcheck]") {
  // f = 50 x_0^2 + x_2: d f / d x_1 is exactly 0 (f does not read x_1), the scale is ~100.
  auto f = [](std::span<const double> v) { return 50 * v[0] * v[0] + v[2]; };
  const std::vector<double> x = {1.0, 0.7, -2.0};
  const gradcheck_options o;
  const auto exact = gradcheck(f, x, {100.0, 0.0, 1.0}, o);
  CHECK(exact.numeric_gradient[1] == 0.0);
  CHECK(exact.scale == Approx(100.0).epsilon(1e-8));
  // An error of 1e-7 on the zero element is 1e-9 of the scale: it passes, though it is an
  // infinite error relative to the element itself. (1e-7 is well above the rounding error of
  // the other two elements, ~1e-9, so it is the worst one.)
  const auto r = gradcheck(f, x, {100.0, 1e-7, 1.0}, o);
  CHECK(r.passed);
  CHECK(r.worst_index == 1);
  CHECK(r.max_abs_error == 1e-7);
  CHECK(r.max_rel_error == 1e-7 / r.scale);
}

TEST_CASE("a zero gradient is judged against scale_floor", "[core][gradcheck]") {
  auto f = [](std::span<const double>) { return 3.0; };
  const std::vector<double> x = {1.0, -1.0};
  gradcheck_options o;
  const auto zero = gradcheck(f, x, {0.0, 0.0}, o);
  CHECK(zero.passed);
  CHECK(zero.scale == o.scale_floor);
  CHECK(zero.max_abs_error == 0.0);
  // 1e-9 against a floor of 1e-12 is a relative error of 1e3.
  const auto tiny = gradcheck(f, x, {0.0, 1e-9}, o);
  CHECK_FALSE(tiny.passed);
  CHECK(tiny.worst_index == 1);
  CHECK(tiny.max_rel_error == Approx(1e3).epsilon(1e-9));
  o.scale_floor = 1.0;
  CHECK(gradcheck(f, x, {0.0, 1e-9}, o).passed);
}

TEST_CASE("a non-finite numeric gradient fails and is reported", "[core][gradcheck]") {
  const std::vector<double> x = {1.0, 2.0, 3.0, 4.0};
  // f is NaN whenever x_2 is moved: its numeric derivative there is NaN.
  auto nan_at_2 = [&](std::span<const double> v) {
    return v[2] != x[2] ? std::numeric_limits<double>::quiet_NaN() : v[0] + v[1] + v[3];
  };
  // Element 0 has a large finite error, yet the NaN is the worst.
  const auto r = gradcheck(nan_at_2, x, {5.0, 1.0, 0.0, 1.0});
  CHECK_FALSE(r.passed);
  CHECK(r.worst_index == 2);
  CHECK(std::isnan(r.numeric));
  CHECK(std::isnan(r.max_rel_error));
  CHECK(r.message().rfind("gradcheck FAILED", 0) == 0);

  // f overflows to +inf when x_1 moves up: an infinite numeric derivative fails too.
  auto inf_at_1 = [&](std::span<const double> v) {
    return v[1] > x[1] ? std::numeric_limits<double>::infinity() : v[0];
  };
  const auto s = gradcheck(inf_at_1, x, {1.0, 0.0, 0.0, 0.0});
  CHECK_FALSE(s.passed);
  CHECK(s.worst_index == 1);
}

TEST_CASE("gradcheck rejects bad arguments by name", "[core][gradcheck]") {
  auto f = [](std::span<const double> v) { return v[0] * v[0]; };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(thrown_argument([&] { gradcheck(f, {1.0, 2.0}, {2.0}); }) == "analytic");
  CHECK(thrown_argument([&] { gradcheck(f, {1.0}, {2.0, 0.0}); }) == "analytic");
  CHECK(thrown_argument([&] { gradcheck(f, {nan}, {2.0}); }) == "x");
  CHECK(thrown_argument([&] { gradcheck(f, {-inf}, {2.0}); }) == "x");
  CHECK(thrown_argument([&] { gradcheck(f, {1.0}, {inf}); }) == "analytic");
  CHECK(thrown_argument([&] { gradcheck(f, {1.0}, {nan}); }) == "analytic");
  CHECK(thrown_argument([&] { gradcheck(f, {}, {}); }) == "x");
  CHECK(thrown_argument([&] { numeric_gradient(f, {}); }) == "x");
  for (double step : {0.0, -1e-6, nan, inf}) {
    gradcheck_options o;
    o.rel_step = step;
    CAPTURE(step);
    CHECK(thrown_argument([&] { gradcheck(f, {1.0}, {2.0}, o); }) == "rel_step");
    CHECK(thrown_argument([&] { numeric_gradient(f, {1.0}, o); }) == "rel_step");
  }
  // The checks come first: a rejected call never evaluates f.
  int calls = 0;
  auto counting = [&](std::span<const double> v) {
    ++calls;
    return v[0];
  };
  CHECK(thrown_argument([&] { gradcheck(counting, {1.0, nan}, {1.0, 0.0}); }) == "x");
  CHECK(calls == 0);
}

namespace {

/// A function computed in float behind gradcheck's double interface, as a float loss is:
/// f(x) = sum_k (w_k x_k^2 / 2 + sin(x_k)) + 20, its value rounded to float at each step.
/// (The constant raises |f| over |grad f|, as a loss's value usually is.) Gradient, exact in
/// double: w_k x_k + cos(x_k).
struct float_function {
  std::vector<double> w;
  double operator()(std::span<const double> x) const {
    float acc = 20.0f;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const float xk = float(x[k]);
      acc += float(w[k]) * xk * xk / 2.0f + std::sin(xk);
    }
    return double(acc);
  }
  std::vector<double> gradient(const std::vector<double>& x) const {
    std::vector<double> g(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) g[k] = w[k] * x[k] + std::cos(x[k]);
    return g;
  }
};

}  // namespace

TEST_CASE("for_precision gives each precision its step and tolerance", "[core][gradcheck]") {
  const auto d = gradcheck_options::for_precision<double>();
  const gradcheck_options plain;
  CHECK(d.rel_step == plain.rel_step);
  CHECK(d.tolerance == plain.tolerance);
  const auto f = gradcheck_options::for_precision<float>();
  CHECK(f.rel_step == Approx(std::exp2(-23.0 / 3.0)).epsilon(1e-12));  // cbrt(2^-23) ~ 4.9e-3
  CHECK(f.tolerance == 1e-2);
}

TEST_CASE("a correct float function fails the double defaults and passes float's",
          "[core][gradcheck]") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1.5, 1.5), uw(0.5, 2.0);
  for (int trial = 0; trial < 5; ++trial) {
    float_function f;
    std::vector<double> x(12);
    for (auto& v : x) v = double(float(u(rng)));  // float-representable points
    f.w.resize(x.size());
    for (auto& v : f.w) v = double(float(uw(rng)));
    const auto g = f.gradient(x);
    CAPTURE(trial);
    // The double defaults step by 6e-6, where float's rounding of f (about 1e-6 at |f| ~ 20)
    // dominates the difference quotient.
    const auto dflt = gradcheck(f, x, g);
    CHECK_FALSE(dflt.passed);
    CHECK(dflt.max_rel_error > 1e-3);
    const auto flt = gradcheck(f, x, g, gradcheck_options::for_precision<float>());
    INFO(flt.message());
    CHECK(flt.passed);
    CHECK(flt.max_rel_error < 2e-3);
    // And float's options still catch a wrong gradient: one element off by 10 % of the scale.
    auto bad = g;
    const auto worst = std::max_element(bad.begin(), bad.end(), [](double a, double b) {
      return std::fabs(a) < std::fabs(b);
    });
    *worst *= 1.1;
    CHECK_FALSE(gradcheck(f, x, bad, gradcheck_options::for_precision<float>()).passed);
  }
}

TEST_CASE("with cols, the worst element is named by row and column", "[core][gradcheck]") {
  test_function f{{0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 1.0, 0.75, -2.0, 0.5, 1.25, -1.5},
                  {1.0, 2.0, 0.5, 1.5, 1.0, 0.25, 2.0, 1.0, 0.5, 1.0, 1.5, 0.75}};
  std::vector<double> x(12);
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = 0.1 * double(k) - 0.5;
  auto g = f.gradient(x);
  g[6] += 0.5;  // row 1, column 2 of a 3 x 4 matrix
  gradcheck_options o;
  o.cols = 4;
  const auto r = gradcheck(f, x, g, o);
  CHECK_FALSE(r.passed);
  CHECK(r.worst_index == 6);
  CHECK(r.worst_row == 1);
  CHECK(r.worst_col == 2);
  CHECK(r.message().find("worst element 6 (row 1, column 2) ") != std::string::npos);
  // Without cols: the flat index only.
  const auto flat = gradcheck(f, x, g);
  CHECK(flat.worst_row == -1);
  CHECK(flat.worst_col == -1);
  CHECK(flat.message().find("(row") == std::string::npos);
  // cols must be >= 0 and divide the size of x.
  o.cols = 5;
  CHECK(thrown_argument([&] { gradcheck(f, x, g, o); }) == "cols");
  o.cols = -1;
  CHECK(thrown_argument([&] { gradcheck(f, x, g, o); }) == "cols");
}
