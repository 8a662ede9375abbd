// Properties of the losses: the bound chain between the sample-to-sample forms, sharded
// evaluation with merged row statistics, the bias initialisation, the feature memory and the
// embedded-loss schedule.
#include <catch2/catch.hpp>

#include "loss_cases.hpp"
#include "unitsface/losses/detail/evaluate.hpp"
#include "unitsface/losses/detail/run.hpp"

using namespace unitsface;
using namespace unitsface::test;

TEMPLATE_TEST_CASE("bound chain: softmax <= log-of-sums USS <= per-pair USS, for many b",
                   "[losses][properties]", float, double) {
  using T = TestType;
  const T slack = std::is_same_v<T, double> ? T(1e-12) : T(1e-4);
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    const problem<T> p = make_problem<T>(10, 12, 8, 900 + seed);
    for (refs_mode mode : {refs_mode::memory, refs_mode::masked, refs_mode::in_batch}) {
      const T s = T(16), m = T(0.1);
      ss_softmax_options<T> so;
      so.s = s;
      so.m = m;
      ss_softmax_loss<T> sm(so);
      const T l_softmax = run_loss(sm, p, mode, false).loss;
      for (T b = T(-20); b <= T(40); b += T(2.5)) {
        auto los = fixed_bias_loss<T>(s, m, uss_form::log_of_sums, false, false, p.C, b);
        auto pp = fixed_bias_loss<T>(s, m, uss_form::per_pair, false, false, p.C, b);
        const T l_los = run_loss(los, p, mode, false).loss;
        const T l_pp = run_loss(pp, p, mode, false).loss;
        INFO("seed " << seed << " b " << b << " softmax " << l_softmax << " log-of-sums " << l_los
                     << " per-pair " << l_pp);
        CHECK(l_softmax <= l_los * (T(1) + slack));
        CHECK(l_los <= l_pp * (T(1) + slack));
      }
    }
  }
}

TEMPLATE_TEST_CASE("sharded references: merged row statistics give the unsharded loss",
                   "[losses][shards]", float, double) {
  // Three shards of the class weights, as three devices would hold them: each runs the
  // statistics pass on its shard, the statistics are merged (an all-reduce), then each runs
  // the element pass; losses and input gradients add up across shards.
  using T = TestType;
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-5;
  const problem<T> p = make_problem<T>(8, 20, 6, 31);
  const auto& pol = policy();
  const device_problem<T> d(p);
  const matrix_view<const T> xv = d.input();
  const index_t* yp = d.labels().data;
  kernels::softmax<T, cosface_margin<T>> k{T(16), cosface_margin<T>{T(0.35)}};

  const index_t bounds[] = {0, 7, 13, 20};
  using driver = losses::detail::tile_driver<policy_type, T>;
  std::vector<driver> shards;
  for (int s = 0; s < 3; ++s) {
    const index_t n = bounds[s + 1] - bounds[s];
    const matrix_view<const T> wv = d.rows().row_block(bounds[s], n);
    shards.emplace_back(pol, xv, wv, false,
                        losses::detail::make_pairing(yp, nullptr, bounds[s], false), true, 3);
  }
  // Pass 1 on every shard, then the merge.
  using S = typename decltype(k)::stats;
  std::vector<std::vector<S>> host(3);
  for (int s = 0; s < 3; ++s) {
    auto st = shards[s].make_stats(k);
    shards[s].statistics_pass(k, 1, backends::data_ptr(st));
    host[s] = download<S>(backends::data_ptr(st), p.B);
  }
  std::vector<S> merged = host[0];
  for (int s = 1; s < 3; ++s)
    for (index_t i = 0; i < p.B; ++i) merged[i].merge(host[s][i]);
  for (auto& st : merged) k.finish_pass(1, st);  // what every shard's finish_pass computes
  // Element pass on every shard with the merged statistics.
  double loss = 0.0;
  std::vector<double> gx(static_cast<std::size_t>(p.B * p.D), 0.0);
  std::vector<T> gw(static_cast<std::size_t>(p.C * p.D));
  for (int s = 0; s < 3; ++s) {
    auto st = upload(merged);
    shards[s].finish_pass(k, 1, backends::data_ptr(st));
    auto row_loss = backends::make_buffer<T>(pol, p.B);
    auto gxs = backends::make_buffer<T>(pol, p.B * p.D);
    const index_t n = bounds[s + 1] - bounds[s];
    auto gws = backends::make_buffer<T>(pol, n * p.D);
    shards[s].set_reference_gradient(matrix_view<T>(backends::data_ptr(gws), n, p.D));
    shards[s].element_pass(k, backends::data_ptr(st), backends::data_ptr(row_loss), true, nullptr,
                           T(1) / T(p.B));
    shards[s].finish(matrix_view<T>(backends::data_ptr(gxs), p.B, p.D));
    // The kernel's row term (the logsumexp) is in every shard's row loss: count it once.
    const auto rl = download<T>(backends::data_ptr(row_loss), p.B);
    for (index_t i = 0; i < p.B; ++i) {
      loss += double(rl[i]) / p.B;
      if (s > 0) loss -= double(k.row_loss(merged[i])) / p.B;
    }
    const auto g = download<T>(backends::data_ptr(gxs), p.B * p.D);
    for (std::size_t q = 0; q < g.size(); ++q) gx[q] += g[q];
    const auto gwh = download<T>(backends::data_ptr(gws), n * p.D);
    std::copy(gwh.begin(), gwh.end(), gw.begin() + bounds[s] * p.D);
  }
  cosface_loss<T> whole(cosface_options<T>(T(0.35), T(16)));
  const outcome<T> ref = run_loss(whole, p, refs_mode::weights, true);
  CHECK(std::fabs(loss - double(ref.loss)) <= tol * std::fabs(double(ref.loss)));
  CHECK(rel_diff(gx, ref.gx) <= tol * 10);
  CHECK(rel_diff(gw, ref.gw) <= tol * 10);
}

TEMPLATE_TEST_CASE("USS bias initialisation: b = mean_i LSE_n(s c_in), once, float32 storage",
                   "[losses][bias]", float, double) {
  using T = TestType;
  const problem<T> p = make_problem<T>(6, 8, 5, 5);
  const problem<double> pd = p.template as<double>();
  // Independent value: the reference cosines, logsumexp over the negatives, mean over anchors.
  const auto ps = reference_pairs(pd, refs_mode::memory);
  reference::ld acc = 0;
  for (std::size_t i = 0; i < ps.cos.size(); ++i) {
    reference::ld sum = 0;
    for (std::size_t j = 0; j < ps.cos[i].size(); ++j)
      if (ps.role[i][j] < 0) sum += std::exp(64 * ps.cos[i][j]);
    acc += std::log(sum);
  }
  const double want = double(acc / ps.cos.size());

  losses::uss_loss<T> L;  // official defaults: data-dependent initialisation from b = 0
  CHECK(L.bias() == T(0));
  run_loss(L, p, refs_mode::memory, false);
  CHECK(double(L.bias()) == Approx(want).epsilon(std::is_same_v<T, double> ? 1e-12 : 1e-5));
  CHECK(double(L.threshold()) == Approx(double(L.bias()) / 64).epsilon(1e-12));
  // Initialised once: a second forward keeps b.
  const T b1 = L.bias();
  problem<T> q = make_problem<T>(6, 8, 5, 6);
  run_loss(L, q, refs_mode::memory, false);
  CHECK(L.bias() == b1);

  binary_options<T> o;
  o.storage = bias_storage::float32;
  losses::uss_loss<T> F(o);
  run_loss(F, p, refs_mode::memory, false);
  CHECK(F.bias() == T(static_cast<float>(F.bias())));  // stored as a float32 number
  CHECK(double(F.bias()) == Approx(want).epsilon(1e-6));

  // SS-BCE: the value is added to every identity's bias when their mean is <= 0.
  losses::ss_bce_loss<T> S(p.C);
  std::vector<T> start(static_cast<std::size_t>(p.C), T(0));
  start[0] = T(-1);
  start[1] = T(0.5);
  S.set_biases(start);
  run_loss(S, p, refs_mode::memory, false);
  for (index_t j = 0; j < p.C; ++j)
    CHECK(double(S.biases()[j]) ==
          Approx(double(start[j]) + want).epsilon(std::is_same_v<T, double> ? 1e-12 : 1e-5));
}

TEMPLATE_TEST_CASE("feature memory: zero start, last write wins, mask, momentum", "[memory]", float,
                   double) {
  using T = TestType;
  const auto& pol = policy();
  const index_t C = 4, D = 3;
  std::vector<T> xb{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<index_t> yb{2, 0, 2, 1};
  auto x = upload(xb);
  auto y = upload(yb);
  losses::feature_memory<T, policy_type> mem(C, D, {}, pol);
  CHECK(download<T>(mem.rows().data, C * D) == std::vector<T>(C * D, T(0)));
  CHECK(download<unsigned char>(mem.valid(), C) == std::vector<unsigned char>{0, 0, 0, 0});
  mem.update(matrix_view<const T>(backends::data_ptr(x), 4, D),
             vector_view<const index_t>(backends::data_ptr(y), 4));
  // Row 2 gets anchor 2 (the later of anchors 0 and 2), row 3 is never written.
  CHECK(download<T>(mem.rows().data, C * D) ==
        std::vector<T>{4, 5, 6, 10, 11, 12, 7, 8, 9, 0, 0, 0});
  CHECK(download<unsigned char>(mem.valid(), C) == std::vector<unsigned char>{1, 1, 1, 0});

  // The mask: row 3 (unwritten) is neither a positive nor a negative. A memory whose row 3
  // is removed gives the same USS loss.
  problem<T> p = make_problem<T>(5, C, D, 12);
  for (index_t& v : p.y) v = v % 3;
  auto Lm = losses::uss_loss<T>();
  {
    auto o = Lm.opts();
    o.init = bias_init::fixed;
    Lm.set_options(o);
  }
  Lm.set_bias(T(4));
  const device_problem<T> d(p);
  const matrix_view<const T> xv = d.input();
  const vector_view<const index_t> yv = d.labels();
  const T masked = Lm.forward(pol, xv, yv, mem.as_references());
  auto first3 = upload(std::vector<T>{4, 5, 6, 10, 11, 12, 7, 8, 9});
  const T three = Lm.forward(
      pol, xv, yv, references<T>::memory(matrix_view<const T>(backends::data_ptr(first3), 3, D)));
  CHECK(double(masked) == Approx(double(three)).epsilon(1e-6));
  // The official behaviour (no mask): the zero row is a negative with cosine 0.
  losses::feature_memory<T, policy_type> nomask(C, D, {T(0), false}, pol);
  nomask.update(matrix_view<const T>(backends::data_ptr(x), 4, D),
                vector_view<const index_t>(backends::data_ptr(y), 4));
  const T unmasked = Lm.forward(pol, xv, yv, nomask.as_references());
  // each anchor gains softplus(s * 0 - b) for the zero row
  CHECK(double(unmasked) == Approx(double(masked) + std::log1p(std::exp(-4.0))).epsilon(1e-5));

  // Momentum 0.75: a written row moves a quarter of the way to the new feature.
  losses::feature_memory<T, policy_type> ema(C, D, {T(0.75), true}, pol);
  ema.update(matrix_view<const T>(backends::data_ptr(x), 4, D),
             vector_view<const index_t>(backends::data_ptr(y), 4));
  auto x2 = upload(std::vector<T>{8, 8, 8});
  auto y2 = upload(std::vector<index_t>{0});
  ema.update(matrix_view<const T>(backends::data_ptr(x2), 1, D),
             vector_view<const index_t>(backends::data_ptr(y2), 1));
  const auto rows = download<T>(ema.rows().data, C * D);
  CHECK(rows[0] == Approx(0.75 * 4 + 0.25 * 8));
  CHECK(rows[2] == Approx(0.75 * 6 + 0.25 * 8));
  CHECK(rows[3] == T(10));  // row 1 untouched
}

TEMPLATE_TEST_CASE("embedded loss: warm-up runs the head alone, then head + lambda USS",
                   "[losses][embedded]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  const auto& pol = policy();
  const problem<T> p1 = make_problem<T>(8, 6, 5, 100);
  problem<T> p2 = make_problem<T>(8, 6, 5, 101);
  p2.w = p1.w;  // one set of class weights for the whole trace
  auto w = upload(p1.w);
  matrix_view<const T> wv(backends::data_ptr(w), p1.C, p1.D);
  embedded_options<T> eo;
  eo.lambda = T(0.5);
  eo.warmup_epochs = 1;
  embedded_loss<T> E(cosface_loss<T>(cosface_options<T>(T(0.4), T(16))), uss_loss<T>(), eo);
  losses::feature_memory<T, policy_type> mem(p1.C, p1.D, {}, pol);

  auto step = [&](const problem<T>& p, index_t epoch, outcome<T>& out) {
    const device_problem<T> d(p);
    auto gx = backends::make_buffer<T>(pol, p.B * p.D);
    auto gw = backends::make_buffer<T>(pol, p.C * p.D);
    const auto r = E.step(pol, d.input(), d.labels(), wv,
                          gradients<T>{matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                                       matrix_view<T>(backends::data_ptr(gw), p.C, p.D)},
                          mem, epoch);
    out.loss = r.loss;
    out.gx = download<T>(backends::data_ptr(gx), p.B * p.D);
    out.gw = download<T>(backends::data_ptr(gw), p.C * p.D);
    out.gb = r.grad_bias;
  };
  cosface_loss<T> head(cosface_options<T>(T(0.4), T(16)));
  outcome<T> o1;
  step(p1, 0, o1);
  const outcome<T> h1 = run_loss(head, p1, refs_mode::weights, true);
  CHECK(std::fabs(double(o1.loss - h1.loss)) <= tol * std::fabs(double(h1.loss)));
  CHECK(rel_diff(o1.gx, h1.gx) <= tol);
  CHECK(o1.gb.empty());
  CHECK(E.sample_to_sample().bias() == T(0));  // the USS part did not run

  // Epoch 1: head + 0.5 USS over the memory written by step 1 (which held p1's batch).
  const std::vector<T> mem_before = download<T>(mem.rows().data, p1.C * p1.D);
  const std::vector<unsigned char> valid_before = download<unsigned char>(mem.valid(), p1.C);
  outcome<T> o2;
  step(p2, 1, o2);
  const T b = E.sample_to_sample().bias();
  CHECK(b > T(0));  // initialised from the data on its first use
  problem<T> pm = p2;
  pm.w = mem_before;
  pm.valid = valid_before;
  uss_loss<T> u;
  {
    auto o = u.opts();
    o.init = bias_init::fixed;
    u.set_options(o);
  }
  u.set_bias(b);
  const outcome<T> us = run_loss(u, pm, refs_mode::masked, true);
  const outcome<T> h2 = run_loss(head, p2, refs_mode::weights, true);
  CHECK(std::fabs(double(o2.loss) - (double(h2.loss) + 0.5 * double(us.loss))) <=
        tol * std::fabs(double(o2.loss)));
  std::vector<double> gx_want(h2.gx.size());
  for (std::size_t k = 0; k < gx_want.size(); ++k) gx_want[k] = double(h2.gx[k]) + 0.5 * us.gx[k];
  CHECK(rel_diff(o2.gx, gx_want) <= tol * 10);
  CHECK(rel_diff(o2.gw, h2.gw) <= tol);
  REQUIRE(o2.gb.size() == 1);
  CHECK(double(o2.gb[0]) == Approx(0.5 * double(us.gb[0])).epsilon(tol * 10));
  // The memory now holds p2's batch (last write wins) on top of p1's.
  const auto after = download<T>(mem.rows().data, p1.C * p1.D);
  for (index_t i = 0; i < p2.B; ++i) {
    bool last = true;
    for (index_t k = i + 1; k < p2.B; ++k) last = last && p2.y[k] != p2.y[i];
    if (!last) continue;
    for (index_t d = 0; d < p2.D; ++d) CHECK(after[p2.y[i] * p2.D + d] == p2.x[i * p2.D + d]);
  }
}
