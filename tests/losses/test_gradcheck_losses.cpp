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
    const gradcheck_result r =
        gradcheck([&](std::span<const double> v) { return loss_at(c, p, bias, it.b, v); }, it.at,
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
    SECTION(c.name) {
      check_case(c, p, 2.0);
    }
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

TEST_CASE("gradcheck: the embedded loss (CosFace + lambda USS-m over the memory)",
          "[gradcheck][embedded]") {
  // A memory filled by one warm-up step; then d L / d x and d L / d W of a step at epoch 1,
  // each finite-difference evaluation on a fresh copy of that memory (a step writes it).
  const problem<double> p0 = make_problem<double>(8, 6, 5, 60);
  problem<double> p = make_problem<double>(8, 6, 5, 61);
  p.w = p0.w;
  const auto& pol = policy();
  auto make_loss = [] {
    losses::binary_options<double> uo;
    uo.s = 12.0;
    uo.init = losses::bias_init::fixed;
    losses::uss_loss<double> u(uo);
    u.set_bias(3.0);
    losses::embedded_options<double> eo;
    eo.lambda = 0.7;
    return losses::embedded_loss<double>(
        losses::cosface_loss<double>(losses::cosface_options<double>(0.4, 16.0)), u, eo);
  };
  losses::feature_memory<double, policy_type> warm(p.C, p.D, {}, pol);
  {
    auto E = make_loss();
    const device_problem<double> d(p0);
    E.forward(pol, d.input(), d.labels(), d.rows(), warm, 0);
  }
  auto step = [&](const problem<double>& q, bool grad, std::vector<double>* gx,
                  std::vector<double>* gw) {
    auto E = make_loss();
    auto mem = warm;  // the memory as it was before the step
    const device_problem<double> d(q);
    const matrix_view<const double> xv = d.input(), wv = d.rows();
    const vector_view<const index_t> yv = d.labels();
    if (!grad) return E.forward(pol, xv, yv, wv, mem, 1);
    auto bx = backends::make_buffer<double>(pol, q.B * q.D);
    auto bw = backends::make_buffer<double>(pol, q.C * q.D);
    const auto r = E.step(pol, xv, yv, wv,
                          gradients<double>{matrix_view<double>(backends::data_ptr(bx), q.B, q.D),
                                            matrix_view<double>(backends::data_ptr(bw), q.C, q.D)},
                          mem, 1);
    *gx = download<double>(backends::data_ptr(bx), q.B * q.D);
    *gw = download<double>(backends::data_ptr(bw), q.C * q.D);
    return r.loss;
  };
  std::vector<double> gx, gw;
  step(p, true, &gx, &gw);
  const auto rx = gradcheck(
      [&](std::span<const double> v) {
        problem<double> q = p;
        q.x.assign(v.begin(), v.end());
        return step(q, false, nullptr, nullptr);
      },
      p.x, gx);
  INFO(rx.message());
  CHECK(rx.passed);
  const auto rw = gradcheck(
      [&](std::span<const double> v) {
        problem<double> q = p;
        q.w.assign(v.begin(), v.end());
        return step(q, false, nullptr, nullptr);
      },
      p.w, gw);
  INFO(rw.message());
  CHECK(rw.passed);
}
