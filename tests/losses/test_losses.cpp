// Every loss against a naive long-double reference written independently, float against
// double, and the evaluation options (tiles, reductions, per-anchor losses, upstream
// gradients), over several sizes.
#include <catch2/catch.hpp>

#include "loss_cases.hpp"

using namespace unitsface;
using namespace unitsface::test;

namespace {
struct size3 {
  index_t B, C, D;
};
const size3 sizes[] = {{6, 7, 5}, {17, 33, 12}, {40, 130, 64}};
}  // namespace

TEST_CASE("losses match the naive long-double reference", "[losses][reference]") {
  for (const size3& sz : sizes) {
    const problem<double> p = make_problem<double>(sz.B, sz.C, sz.D, 42 + sz.B);
    for (const auto& c : all_loss_cases<double>()) {
      const std::vector<double> bias = bias_for(c, p.C, 3.0);
      const double got = c.run(p, bias, false).loss;
      const double want = c.reference(p, bias);
      INFO(c.name << " B=" << sz.B << " C=" << sz.C << " D=" << sz.D << " got " << got << " want "
                  << want);
      CHECK(std::fabs(got - want) <= 1e-12 * std::fabs(want));
      // The fused call gives the same loss as forward.
      CHECK(c.run(p, bias, true).loss == Approx(got).epsilon(1e-14));
    }
  }
}

TEST_CASE("float results agree with double within 1e-4 of the largest element",
          "[losses][precision]") {
  for (const size3& sz : sizes) {
    const problem<double> pd = make_problem<double>(sz.B, sz.C, sz.D, 7 + sz.C);
    const problem<float> pf = pd.as<float>();
    const auto dcases = all_loss_cases<double>();
    const auto fcases = all_loss_cases<float>();
    for (std::size_t k = 0; k < dcases.size(); ++k) {
      const outcome<double> d = dcases[k].run(pd, bias_for(dcases[k], pd.C, 3.0), true);
      const outcome<float> f = fcases[k].run(pf, bias_for(fcases[k], pf.C, 3.0f), true);
      INFO(dcases[k].name << " B=" << sz.B << " C=" << sz.C << " D=" << sz.D);
      CHECK(std::fabs(double(f.loss) - d.loss) <= 1e-4 * std::fabs(d.loss));
      CHECK(rel_diff(f.gx, d.gx) <= 1e-4);
      CHECK(rel_diff(f.gw, d.gw) <= 1e-4);
      CHECK(rel_diff(f.gb, d.gb) <= 1e-4);
    }
  }
}

TEMPLATE_TEST_CASE("results do not depend on the tile size", "[losses][tiles]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-5;
  const problem<T> p = make_problem<T>(9, 23, 8, 3);
  auto run = [&](index_t tile, bool log_of_sums) {
    // clamp on, as officially: the default m = 0.1
    auto L =
        fixed_bias_loss<T>(T(12), T(0.1), log_of_sums ? uss_form::log_of_sums : uss_form::per_pair,
                           true, true, p.C, T(2), tile);
    return run_loss(L, p, refs_mode::masked, true);
  };
  auto run_arc = [&](index_t tile) {
    auto o = arcface_options<T>(T(0.5), arcface_policy::classic_fallback, arcface_gradient::exact,
                                T(16));
    o.tile_columns = tile;
    arcface_loss<T> L(o);
    return run_loss(L, p, refs_mode::weights, true);
  };
  for (bool los : {false, true}) {
    const auto whole = run(0, los);
    for (index_t tile : {1, 2, 5, 22, 23}) {
      const auto tiled = run(tile, los);
      INFO("tile " << tile << " log_of_sums " << los);
      CHECK(std::fabs(double(tiled.loss - whole.loss)) <= tol * std::fabs(double(whole.loss)));
      CHECK(rel_diff(tiled.gx, whole.gx) <= tol);
      CHECK(rel_diff(tiled.gb, whole.gb) <= tol);
    }
  }
  const auto whole = run_arc(0);
  for (index_t tile : {1, 4, 7}) {
    const auto tiled = run_arc(tile);
    CHECK(std::fabs(double(tiled.loss - whole.loss)) <= tol * std::fabs(double(whole.loss)));
    CHECK(rel_diff(tiled.gx, whole.gx) <= tol);
    CHECK(rel_diff(tiled.gw, whole.gw) <= tol);
  }
}

TEMPLATE_TEST_CASE("kept cosines give the results of recomputed ones", "[losses][tiles]", float,
                   double) {
  using T = TestType;
  // Several tiles (the budget is not used for one): the statistics passes keep the cosines
  // for the element pass, or (budget 0) every pass computes them again. The same products of
  // the same inputs either way, so the same bits (class weights on the CPUs included, whose
  // products take the raw weights either way: tile_driver::uses_raw_references).
  const problem<T> p = make_problem<T>(9, 23, 8, 5);
  for (index_t tile : {4, 5, 22}) {
    auto compare = [&](const char* name, auto make, refs_mode mode) {
      INFO(name << ", tile " << tile);
      auto kept = make(std::size_t(1) << 20), again = make(std::size_t(0));
      const auto a = run_loss(kept, p, mode, true), b = run_loss(again, p, mode, true);
      CHECK(a.loss == b.loss);
      CHECK(a.gx == b.gx);
      CHECK(a.gw == b.gw);
      CHECK(a.gb == b.gb);
    };
    // CosFace over weights (one statistics pass), ss_softmax over masked memory (two), and a
    // scalar-bias head with a statistics pass (the bias gradient sums the unscaled gradients)
    auto tiled = [&](auto o, std::size_t budget) {
      o.tile_columns = tile;
      o.cosine_cache_bytes = budget;
      return o;
    };
    compare(
        "cosface",
        [&](std::size_t b) {
          return cosface_loss<T>(tiled(cosface_options<T>(T(0.35), T(16)), b));
        },
        refs_mode::weights);
    compare(
        "ss_softmax",
        [&](std::size_t b) { return ss_softmax_loss<T>(tiled(ss_softmax_options<T>(), b)); },
        refs_mode::masked);
    compare(
        "uce head log_of_sums",
        [&](std::size_t budget) {
          auto L = fixed_bias_loss<T>(T(8), T(0.4), uss_form::log_of_sums, false, false, p.C, T(2),
                                      tile);
          auto o = L.opts();
          o.cosine_cache_bytes = budget;
          L.set_options(o);
          return L;
        },
        refs_mode::weights);
  }
}

TEMPLATE_TEST_CASE("class weights used as they are give the results of normalised tiles",
                   "[losses][tiles]", float, double) {
  using T = TestType;
  // On the CPUs the driver takes class weights as they are, their columns scaled by
  // 1 / max(||w_j||, eps) (tile_driver::uses_raw_references); against the same call with the
  // weights normalised tile by tile, rows of norms from 1e-3 to 1e3 among them one of norm 0
  // and one below eps (the linear branch of the normalisation), over one tile and several,
  // the cosines kept or not: equal within rounding. (A device normalises either way.)
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  problem<T> p = make_problem<T>(9, 23, 8, 21);
  for (index_t c = 0; c < p.C; ++c) {
    const T f = c == 3 ? T(0) : c == 11 ? T(1e-7) : T(std::pow(10.0, double(c % 7) - 3.0));
    for (index_t k = 0; k < p.D; ++k) p.w[std::size_t(c * p.D + k)] *= f;
  }
  p.y[0] = 3;  // an anchor of the zero row's class, and one of the tiny row's
  p.y[1] = 11;
  const auto& pol = policy();
  const device_problem<T> d(p);
  const auto margin = cosface_options<T>(T(0.35), T(16)).margin;
  for (index_t tile : {index_t(0), index_t(5)}) {
    for (std::size_t budget : {std::size_t(0), std::size_t(1) << 20}) {
      INFO("tile " << tile << ", budget " << budget);
      evaluation_options eo;
      eo.tile_columns = tile;
      eo.cosine_cache_bytes = budget;
      auto run = [&](bool raw) {
        auto gx = backends::make_buffer<T>(pol, p.B * p.D);
        auto gw = backends::make_buffer<T>(pol, p.C * p.D);
        const gradients<T> g(matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                             matrix_view<T>(backends::data_ptr(gw), p.C, p.D));
        const losses::detail::call<T> c{d.input(), d.labels(), references<T>::weights(d.rows()),
                                        &g,        {},         {}};
        auto drv = losses::detail::make_driver(pol, c, eo, true, raw);
        CHECK(drv.uses_raw_references() == (raw && policy_type::host_memory));
        const kernels::softmax<T, cosface_margin<T>> k{T(16), margin};
        outcome<T> out;
        out.loss = losses::detail::run(drv, pol, c, eo, k, {}, false, T(16)).loss;
        out.gx = download<T>(backends::data_ptr(gx), p.B * p.D);
        out.gw = download<T>(backends::data_ptr(gw), p.C * p.D);
        return out;
      };
      const outcome<T> raw = run(true), normalised = run(false);
      CHECK(std::fabs(double(raw.loss - normalised.loss)) <=
            tol * std::fabs(double(normalised.loss)));
      CHECK(rel_diff(raw.gx, normalised.gx) <= tol);
      CHECK(rel_diff(raw.gw, normalised.gw) <= tol);
      // the zero row's gradient: d loss / d w through x / eps, finite and not zero
      bool finite = true, nonzero = false;
      for (index_t k = 0; k < p.D; ++k) {
        const T v = raw.gw[std::size_t(3 * p.D + k)];
        finite = finite && std::isfinite(v);
        nonzero = nonzero || v != T(0);
      }
      CHECK(finite);
      CHECK(nonzero);
    }
  }
}

#if !defined(UNITSFACE_TEST_BACKEND_CUDA) && !defined(UNITSFACE_TEST_BACKEND_SIMULATED_DEVICE)
TEMPLATE_TEST_CASE("a workspace gives the results of per-call buffers and allocates once",
                   "[losses][workspace]", float, double) {
  using T = TestType;
  // Host-memory backends: the caller's vectors are the policy's memory.
  const problem<T> p = make_problem<T>(9, 23, 8, 5);
  const matrix_view<const T> x(p.x.data(), p.B, p.D), w(p.w.data(), p.C, p.D);
  const vector_view<const index_t> y(p.y.data(), p.B);
  struct result {
    T loss;
    std::vector<T> gx, gw, gb;
  };
  // Four calls whose buffers differ in number and size, so that each reuses blocks the
  // others left dirty: CosFace over 5 tiles (its cosines kept), ss_softmax over masked memory
  // (two statistics passes), the per-class binary loss initialising its biases from the data
  // (a statistics pass, column sums) and USS with a scalar bias (row sums).
  auto run = [&](const auto& pol, int which) {
    result r;
    r.gx.assign(std::size_t(p.B * p.D), T(0));
    r.gw.assign(std::size_t(p.C * p.D), T(0));
    const matrix_view<T> gxv(r.gx.data(), p.B, p.D), gwv(r.gw.data(), p.C, p.D);
    if (which == 0) {
      auto o = cosface_options<T>(T(0.35), T(16));
      o.tile_columns = 5;
      r.loss = cosface_loss<T>(o)
                   .forward_backward(pol, x, y, references<T>::weights(w), gradients<T>(gxv, gwv))
                   .loss;
    } else if (which == 1) {
      ss_softmax_options<T> o;
      o.tile_columns = 4;
      r.loss = ss_softmax_loss<T>(o)
                   .forward_backward(pol, x, y, references<T>::memory(w, p.valid.data()),
                                     gradients<T>(gxv))
                   .loss;
    } else {
      binary_options<T> o;
      o.s = T(16);
      o.tile_columns = which == 2 ? 6 : 0;
      binary_loss<T> L(o, which == 2, p.C, T(0));
      const loss_result<T> lr =
          L.forward_backward(pol, x, y, references<T>::weights(w), gradients<T>(gxv, gwv));
      r.loss = lr.loss;
      r.gb = lr.grad_bias;
    }
    return r;
  };
  workspace ws;
  const auto pooled = with_workspace(policy(), ws);
  std::size_t after_first = 0;
  for (int round = 0; round < 3; ++round) {
    for (int which = 0; which < 4; ++which) {
      INFO("round " << round << " call " << which);
      const result want = run(policy(), which), got = run(pooled, which);
      CHECK(got.loss == want.loss);
      CHECK(got.gx == want.gx);
      CHECK(got.gw == want.gw);
      CHECK(got.gb == want.gb);
      CHECK(ws.in_use() == 0);  // every block back after the call
    }
    if (round == 0) after_first = ws.allocations();
  }
  CHECK(after_first > 0);
  CHECK(ws.allocations() == after_first);  // the later rounds allocated nothing
  ws.release();
  CHECK(ws.bytes_held() == 0);
}
#endif

#if defined(UNITSFACE_TEST_BACKEND_HOST)
namespace {
/// The host policy, counting its matrix products.
struct gemm_counting_policy : host_policy {
  int* calls;
  template <class T>
  void gemm(T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
            matrix_view<T> c) const {
    ++*calls;
    backends::generic::gemm(host_policy{}, alpha, a, b, beta, c);
  }
};
}  // namespace

TEST_CASE("kept cosines save the statistics passes' products", "[losses][tiles]") {
  // CosFace with its weight gradient over 4 tiles: a product for the cosines and two for
  // the gradients per tile, and with a budget of 0 the cosines once more for the element
  // pass (the last tile of the statistics pass is the first of the element pass, whose
  // cosines are still in the tile buffer: 3 of the 4 recomputed).
  const problem<float> p = make_problem<float>(6, 20, 4, 9);
  const matrix_view<const float> x(p.x.data(), p.B, p.D), w(p.w.data(), p.C, p.D);
  const vector_view<const index_t> y(p.y.data(), p.B);
  std::vector<float> gx(std::size_t(p.B * p.D)), gw(std::size_t(p.C * p.D));
  const gradients<float> g(matrix_view<float>(gx.data(), p.B, p.D),
                           matrix_view<float>(gw.data(), p.C, p.D));
  auto products = [&](std::size_t budget) {
    int calls = 0;
    gemm_counting_policy pol;
    pol.calls = &calls;
    auto o = cosface_options<float>(0.35f, 16.f);
    o.tile_columns = 5;
    o.cosine_cache_bytes = budget;
    cosface_loss<float>(o).forward_backward(pol, x, y, references<float>::weights(w), g);
    return calls;
  };
  CHECK(products(std::size_t(1) << 20) == 4 * 3);
  CHECK(products(0) == 4 * 3 + 3);
  // a budget below B x C x 4 bytes = 480: recomputed
  CHECK(products(479) == 4 * 3 + 3);
  CHECK(products(480) == 4 * 3);
}
#endif

TEMPLATE_TEST_CASE("reductions: mean, sum, none and upstream gradients", "[losses][reduction]",
                   float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  const problem<T> p = make_problem<T>(7, 9, 6, 11);
  const auto& pol = policy();
  auto x = upload(p.x);
  auto y = upload(p.y);
  auto w = upload(p.w);
  matrix_view<const T> xv(backends::data_ptr(x), p.B, p.D);
  vector_view<const index_t> yv(backends::data_ptr(y), p.B);
  const auto refs = references<T>::weights(matrix_view<const T>(backends::data_ptr(w), p.C, p.D));

  auto make = [](reduction r) {
    auto o = cosface_options<T>(T(0.4), T(16));
    o.reduce = r;
    return cosface_loss<T>(o);
  };
  const T mean = make(reduction::mean).forward(pol, xv, yv, refs);
  const T sum = make(reduction::sum).forward(pol, xv, yv, refs);
  CHECK(double(sum) == Approx(double(mean) * p.B).epsilon(tol));

  // Per-anchor losses, and the gradient of sum_i u_i l_i through reduction::none.
  auto per = backends::make_buffer<T>(pol, p.B);
  const T total = make(reduction::none)
                      .forward(pol, xv, yv, refs, vector_view<T>(backends::data_ptr(per), p.B));
  const std::vector<T> per_h = download<T>(backends::data_ptr(per), p.B);
  double acc = 0;
  for (T v : per_h) acc += double(v);
  CHECK(double(total) == Approx(acc).epsilon(tol));
  CHECK(double(total) == Approx(double(sum)).epsilon(tol));

  std::vector<T> u_h(static_cast<std::size_t>(p.B));
  for (index_t i = 0; i < p.B; ++i) u_h[i] = T(0.5) + T(i);
  auto u = upload(u_h);
  auto gx = backends::make_buffer<T>(pol, p.B * p.D);
  auto gw = backends::make_buffer<T>(pol, p.C * p.D);
  make(reduction::none)
      .forward_backward(pol, xv, yv, refs,
                        gradients<T>{matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                                     matrix_view<T>(backends::data_ptr(gw), p.C, p.D)},
                        vector_view<const T>(backends::data_ptr(u), p.B),
                        vector_view<T>(backends::data_ptr(per), p.B));
  // Reference: anchor by anchor with reduction::sum, weighted by u_i.
  std::vector<double> gx_ref(static_cast<std::size_t>(p.B * p.D), 0.0);
  std::vector<double> gw_ref(static_cast<std::size_t>(p.C * p.D), 0.0);
  for (index_t i = 0; i < p.B; ++i) {
    problem<T> one = p;
    one.B = 1;
    one.x.assign(p.x.begin() + i * p.D, p.x.begin() + (i + 1) * p.D);
    one.y = {p.y[i]};
    auto L = make(reduction::sum);
    const outcome<T> o = run_loss(L, one, refs_mode::weights, true);
    for (index_t k = 0; k < p.D; ++k) gx_ref[i * p.D + k] = double(u_h[i]) * o.gx[k];
    for (index_t k = 0; k < p.C * p.D; ++k) gw_ref[k] += double(u_h[i]) * o.gw[k];
  }
  CHECK(rel_diff(download<T>(backends::data_ptr(gx), p.B * p.D), gx_ref) <= tol * 10);
  CHECK(rel_diff(download<T>(backends::data_ptr(gw), p.C * p.D), gw_ref) <= tol * 10);
}

TEMPLATE_TEST_CASE("the embeddings' scale does not matter, except below eps", "[losses][normalise]",
                   float, double) {
  using T = TestType;
  problem<T> p = make_problem<T>(5, 6, 4, 8);
  auto L = losses::uss_loss<T>();
  {
    auto o = L.opts();
    o.init = bias_init::fixed;
    L.set_options(o);
  }
  L.set_bias(T(20));
  const T base = run_loss(L, p, refs_mode::memory, false).loss;
  problem<T> q = p;
  for (T& v : q.x) v *= T(37);
  CHECK(double(run_loss(L, q, refs_mode::memory, false).loss) ==
        Approx(double(base)).epsilon(1e-5));
  // A zero embedding has cosine 0 with everything (x / max(||x||, eps) = 0), and a finite
  // gradient g / eps.
  problem<T> z = p;
  for (index_t k = 0; k < p.D; ++k) z.x[k] = T(0);
  const outcome<T> o = run_loss(L, z, refs_mode::memory, true);
  for (T v : o.gx) CHECK(std::isfinite(double(v)));
}

namespace {
// The test backend, counting every read-back from its memory to the host.
struct counting_policy : policy_type {
  int* reads;
  explicit counting_policy(int* r) : policy_type(policy()), reads(r) {}
  template <class T>
  void copy_to_host(const T* src, index_t n, T* dst) const {
    ++*reads;
    backends::copy_to_host(static_cast<const policy_type&>(*this), src, n, dst);
  }
  template <class Acc, class F>
  Acc reduce_index(index_t n, F f) const {
    ++*reads;
    return backends::reduce_index<Acc>(static_cast<const policy_type&>(*this), n, f);
  }
};
}  // namespace

TEMPLATE_TEST_CASE("read-backs: one for validation, none with results kept in the policy's memory",
                   "[losses][readback]", float, double) {
  using T = TestType;
  const problem<T> p = make_problem<T>(6, 9, 5, 17);
  int reads = 0;
  const counting_policy pol(&reads);
  const device_problem<T> d(p);
  const matrix_view<const T> xv = d.input();
  const vector_view<const index_t> yv = d.labels();
  const auto refs = references<T>::memory(d.rows());
  auto gx = backends::make_buffer<T>(pol, p.B * p.D);
  auto out = backends::make_buffer<T>(pol, 2);  // the loss, then d loss / d b
  const gradients<T> g(matrix_view<T>(backends::data_ptr(gx), p.B, p.D), {},
                       backends::data_ptr(out), vector_view<T>(backends::data_ptr(out) + 1, 1));

  binary_options<T> o;
  o.s = T(12);
  uss_loss<T> L(o);  // data-dependent initialisation from b = 0
  // First call: validation (1 read-back) and the bias initialisation (1 read-back).
  L.forward_backward(pol, xv, yv, refs, g);
  CHECK(reads == 2);
  // Initialised: only validation reads back.
  reads = 0;
  const loss_result<T> r = L.forward_backward(pol, xv, yv, refs, g);
  CHECK(reads == 1);
  CHECK(std::isnan(double(r.loss)));
  CHECK(r.grad_bias.empty());
  // Validation off: nothing is read back.
  {
    auto o = L.opts();
    o.validate = false;
    L.set_options(o);
  }
  reads = 0;
  L.forward_backward(pol, xv, yv, refs, g);
  CHECK(reads == 0);
  // The values kept in the policy's memory are those a read-back gives.
  const std::vector<T> kept = download<T>(backends::data_ptr(out), 2);
  const loss_result<T> h = L.forward_backward(pol, xv, yv, refs, gradients<T>(g.input));
  CHECK(kept[0] == Approx(h.loss).epsilon(1e-6));
  REQUIRE(h.grad_bias.size() == 1);
  CHECK(kept[1] == Approx(h.grad_bias[0]).epsilon(1e-6));
}

TEMPLATE_TEST_CASE("embedded loss read-backs: one check and one result copy a step, none kept",
                   "[losses][readback][embedded]", float, double) {
  using T = TestType;
  const problem<T> p = make_problem<T>(6, 9, 5, 23);
  int reads = 0;
  const counting_policy pol(&reads);
  const device_problem<T> d(p);
  const matrix_view<const T> xv = d.input(), wv = d.rows();
  const vector_view<const index_t> yv = d.labels();
  auto gx = backends::make_buffer<T>(pol, p.B * p.D);
  auto gw = backends::make_buffer<T>(pol, p.C * p.D);
  auto out = backends::make_buffer<T>(pol, 2);  // the loss, then lambda d L_s2s / d b
  const gradients<T> host_results(matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                                  matrix_view<T>(backends::data_ptr(gw), p.C, p.D));
  const gradients<T> kept(host_results.input, host_results.weight, backends::data_ptr(out),
                          vector_view<T>(backends::data_ptr(out) + 1, 1));
  embedded_options<T> eo;
  eo.lambda = T(0.5);
  embedded_options<T> unchecked = eo;
  unchecked.validate = false;
  const cosface_loss<T> head(cosface_options<T>(T(0.4), T(16)));
  // A fixed bias: the data-dependent initialisation, and its read-back, are counted in the
  // test above (here the memory holds few identities, and b = mean LSE may come out <= 0,
  // which keeps the initialisation pending).
  binary_options<T> uo;
  uo.s = T(12);
  uo.init = bias_init::fixed;
  uss_loss<T> uss(uo);
  uss.set_bias(T(2));
  embedded_loss<T> E(head, uss, eo);
  losses::feature_memory<T, counting_policy> mem(p.C, p.D, {}, pol);

  // Warm-up: the check, then the loss.
  E.step(pol, xv, yv, wv, host_results, mem, 0);
  CHECK(reads == 2);
  // s2s steps: the check, then loss and d/db in one copy.
  reads = 0;
  const auto first = E.step(pol, xv, yv, wv, host_results, mem, 1);
  CHECK(reads == 2);
  CHECK(first.grad_bias.size() == 1);
  reads = 0;
  const auto again = E.step(pol, xv, yv, wv, host_results, mem, 1);
  CHECK(reads == 2);
  // Results kept in the policy's memory: the check alone; with validation off, nothing.
  reads = 0;
  const auto r = E.step(pol, xv, yv, wv, kept, mem, 1);
  CHECK(reads == 1);
  CHECK(std::isnan(double(r.loss)));
  CHECK(r.grad_bias.empty());
  // The kept values are those read back (the batch is the same each step, so after its
  // first write the memory is too).
  const std::vector<T> k = download<T>(backends::data_ptr(out), 2);
  CHECK(k[0] == Approx(again.loss).epsilon(1e-6));
  REQUIRE(again.grad_bias.size() == 1);
  CHECK(k[1] == Approx(again.grad_bias[0]).epsilon(1e-6));
  embedded_loss<T> U(head, E.sample_to_sample(), unchecked);
  reads = 0;
  U.step(pol, xv, yv, wv, kept, mem, 1);
  CHECK(reads == 0);
  // forward: the check and the loss.
  reads = 0;
  CHECK(E.forward(pol, xv, yv, wv, mem, 1) == Approx(again.loss).epsilon(1e-6));
  CHECK(reads == 2);
  // In the warm-up the kept bias gradient is zero.
  E.step(pol, xv, yv, wv, kept, mem, 0);
  CHECK(download<T>(backends::data_ptr(out) + 1, 1)[0] == T(0));
}
