// Analytic gradients of every loss and option against central finite differences in double
// (unitsface::gradcheck), with respect to the embeddings, the class weights and every bias.
#include <catch2/catch.hpp>

#include "loss_cases.hpp"
#include "unitsface/core/gradcheck.hpp"

using namespace unitsface;
using namespace unitsface::test;

namespace {

// The loss as a function of one parameter block, the others held at p / bias.
enum class block { input, weight, bias };

double loss_at(const loss_case<double>& c, problem<double> p, std::vector<double> bias, block b,
               std::span<const double> v) {
  if (b == block::input) p.x.assign(v.begin(), v.end());
  if (b == block::weight) p.w.assign(v.begin(), v.end());
  if (b == block::bias) bias.assign(v.begin(), v.end());
  return c.run(p, bias, false).loss;
}

void check_case(const loss_case<double>& c, const problem<double>& p, double b0) {
  const std::vector<double> bias = bias_for(c, p.C, b0);
  const outcome<double> g = c.run(p, bias, true);
  struct item {
    block b;
    std::vector<double> at, analytic;
    const char* what;
  };
  std::vector<item> items{{block::input, p.x, g.gx, "input"}};
  if (c.mode == refs_mode::weights) items.push_back({block::weight, p.w, g.gw, "weight"});
  if (c.bias != 0) items.push_back({block::bias, bias, g.gb, "bias"});
  for (const item& it : items) {
    const gradcheck_result r = gradcheck(
        [&](std::span<const double> v) { return loss_at(c, p, bias, it.b, v); }, it.at,
        it.analytic);
    INFO(c.name << " d/d" << it.what << ": " << r.message());
    if (c.exact_gradient) {
      CHECK(r.passed);
      CHECK(r.max_rel_error < 1e-6);
    } else if (it.b != block::bias) {
      // The straight-through gradient is deliberately not the derivative of the forward.
      CHECK_FALSE(r.passed);
    }
  }
}

}  // namespace

TEST_CASE("gradcheck: every loss, every option, all parameter blocks", "[gradcheck]") {
  const auto seed = GENERATE(1u, 2u, 3u);
  const problem<double> p = make_problem<double>(6, 7, 5, 1000 + seed);
  for (const auto& c : all_loss_cases<double>()) {
    SECTION(c.name) { check_case(c, p, 2.0); }
  }
}

TEST_CASE("gradcheck: the clamp is active (official s = 64, b = 30)", "[gradcheck][clamp]") {
  // At s = 64 most negative logits s c - b fall below -s and are clamped: their gradient is
  // exactly 0, on both sides of the finite difference.
  const problem<double> p = make_problem<double>(6, 7, 5, 77);
  const auto c = binary_case<double>("uss clamped", refs_mode::memory, false,
                                     losses::uss_form::per_pair, true, 64.0, 0.1);
  check_case(c, p, 30.0);
  const auto d = binary_case<double>("ss_bce clamped", refs_mode::memory, true,
                                     losses::uss_form::per_pair, true, 64.0, 0.1);
  check_case(d, p, 30.0);
}

TEST_CASE("gradcheck: tiled evaluation (several reference tiles)", "[gradcheck][tiles]") {
  // tile_columns = 2 makes the driver walk 4 tiles of the 7 references.
  const problem<double> p = make_problem<double>(5, 7, 4, 5);
  auto run_tiled = [&](const problem<double>& q, bool grad) {
    auto o = cosface_options<double>(0.3, 12.0);
    o.tile_columns = 2;
    losses::cosface_loss<double> L(o);
    return run_loss(L, q, refs_mode::weights, grad);
  };
  const outcome<double> g = run_tiled(p, true);
  const auto r = gradcheck(
      [&](std::span<const double> v) {
        problem<double> q = p;
        q.w.assign(v.begin(), v.end());
        return run_tiled(q, false).loss;
      },
      p.w, g.gw);
  INFO(r.message());
  CHECK(r.passed);
}

TEST_CASE("gradcheck: a user's own function", "[gradcheck][api]") {
  // f(x) = sum_k sin(x_k) x_{k+1}: the checker knows nothing about unitsface losses.
  auto f = [](std::span<const double> x) {
    double s = 0.0;
    for (std::size_t k = 0; k + 1 < x.size(); ++k) s += std::sin(x[k]) * x[k + 1];
    return s;
  };
  const std::vector<double> x{0.3, -1.2, 2.0, 0.7};
  std::vector<double> g(x.size(), 0.0);
  for (std::size_t k = 0; k + 1 < x.size(); ++k) {
    g[k] += std::cos(x[k]) * x[k + 1];
    g[k + 1] += std::sin(x[k]);
  }
  const auto ok = gradcheck(f, x, g);
  CHECK(ok.passed);
  CHECK(ok.max_rel_error < 1e-9);

  // A wrong gradient is caught, and the worst element is reported.
  std::vector<double> bad = g;
  bad[2] += 1e-3;
  const auto r = gradcheck(f, x, bad);
  CHECK_FALSE(r.passed);
  CHECK(r.worst_index == 2);
  CHECK(r.max_abs_error == Approx(1e-3).epsilon(1e-4));
  CHECK(r.message().find("FAILED") != std::string::npos);
}
