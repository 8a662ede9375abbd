// Bad input gets a unitsface::invalid_argument that names the argument: wrong shapes, labels
// out of range or not contiguous, NaN/Inf, null data, empty batches, parameters out of range,
// no valid reference, no negative to initialise a bias from, gradients or upstream gradients
// that do not fit the call, shards that do not fit in the classes.
#include <catch2/catch.hpp>
#include <cmath>
#include <iterator>
#include <limits>
#include <vector>

#include "loss_cases.hpp"
#include "thrown_argument.hpp"
#include "unitsface/losses/detail/validate.hpp"

using namespace unitsface;
using namespace unitsface::test;

TEMPLATE_TEST_CASE("bad input to the losses names the argument", "[losses][errors]", float,
                   double) {
  using T = TestType;
  const auto& pol = policy();
  problem<T> p = make_problem<T>(4, 5, 3, 1);
  auto run_cos = [&](const problem<T>& q) {
    cosface_loss<T> L;
    return run_loss(L, q, refs_mode::weights, true);
  };
  auto run_uss = [&](const problem<T>& q, refs_mode mode) {
    uss_loss<T> L;
    return run_loss(L, q, mode, true);
  };

  SECTION("labels out of range") {
    problem<T> q = p;
    q.y[2] = 5;
    CHECK(thrown_argument([&] { run_cos(q); }) == "labels");
    q.y[2] = -1;
    CHECK(thrown_argument([&] { run_uss(q, refs_mode::memory); }) == "labels");
    CHECK(thrown_argument([&] { run_uss(q, refs_mode::in_batch); }) == "labels");
  }
  SECTION("NaN and Inf") {
    problem<T> q = p;
    q.x[4] = std::numeric_limits<T>::quiet_NaN();
    CHECK(thrown_argument([&] { run_cos(q); }) == "input");
    q = p;
    q.w[7] = std::numeric_limits<T>::infinity();
    CHECK(thrown_argument([&] { run_cos(q); }) == "weight");
    CHECK(thrown_argument([&] { run_uss(q, refs_mode::memory); }) == "memory");
  }
  SECTION("empty batch and empty dimensions") {
    problem<T> q = p;
    q.B = 0;
    q.x.clear();
    q.y.clear();
    CHECK(thrown_argument([&] { run_cos(q); }) == "input");
    problem<T> r = p;
    r.C = 0;
    r.w.clear();
    CHECK(thrown_argument([&] { run_cos(r); }) == "weight");
  }
  SECTION("no valid reference") {
    problem<T> q = p;
    q.valid.assign(q.valid.size(), 0);
    CHECK(thrown_argument([&] { run_uss(q, refs_mode::masked); }) == "valid");
    problem<T> one = p;
    one.B = 1;
    one.x.resize(static_cast<std::size_t>(p.D));
    one.y.resize(1);
    CHECK(thrown_argument([&] { run_uss(one, refs_mode::in_batch); }) == "references");
  }
  SECTION("parameters out of range") {
    CHECK(thrown_argument([] { cosface_loss<T>(cosface_options<T>(T(0.4), T(0))); }) == "s");
    CHECK(thrown_argument([] { cosface_loss<T>(cosface_options<T>(T(0.4), T(-64))); }) == "s");
    CHECK(thrown_argument([] { cosface_loss<T>(cosface_options<T>(T(1.5))); }) == "m");
    CHECK(thrown_argument([] { cosface_loss<T>(cosface_options<T>(T(-0.1))); }) == "m");
    CHECK(thrown_argument([] { arcface_loss<T>(arcface_options<T>(T(4))); }) == "m");
    CHECK(thrown_argument([] {
            combined_margin_loss<T>(combined_margin_options<T>(T(0), T(0.3), T(0.1)));
          }) == "m1");
    CHECK(thrown_argument([] {
            combined_margin_loss<T>(combined_margin_options<T>(T(1), T(0.3), T(2)));
          }) == "m3");
    binary_options<T> o;
    o.m = T(1);
    CHECK(thrown_argument([&] { uss_loss<T> L(o); }) == "m");
    o = binary_options<T>();
    o.s = std::numeric_limits<T>::quiet_NaN();
    CHECK(thrown_argument([&] { uss_loss<T> L(o); }) == "s");
    CHECK(thrown_argument([] { uce_head<T> L(0); }) == "classes");
    uss_loss<T> L;
    CHECK(thrown_argument([&] { L.set_bias(std::numeric_limits<T>::infinity()); }) == "bias");
    ss_bce_loss<T> S(5);
    CHECK(thrown_argument([&] { S.set_biases(std::vector<T>(3, T(1))); }) == "bias");
    ss_softmax_options<T> so;
    so.m = T(-1);
    CHECK(thrown_argument([&] { ss_softmax_loss<T> M(so); }) == "m");
    embedded_options<T> eo;
    eo.lambda = T(-1);
    CHECK(thrown_argument([&] { embedded_loss<T> E(cosface_loss<T>(), uss_loss<T>(), eo); }) ==
          "lambda");
    // the combined margin's additive angle m2 lies in [0, pi)
    CHECK(thrown_argument([] {
            combined_margin_loss<T>(combined_margin_options<T>(T(1), T(-0.1), T(0)));
          }) == "m2");
    CHECK(thrown_argument([] {
            combined_margin_loss<T>(combined_margin_options<T>(T(1), T(3.2), T(0)));
          }) == "m2");
    CHECK(thrown_argument([] {
            combined_margin_loss<T>(
                combined_margin_options<T>(T(1), std::numeric_limits<T>::quiet_NaN(), T(0)));
          }) == "m2");
    // a negative warm-up, whatever the parts
    embedded_options<T> neg;
    neg.warmup_epochs = -1;
    CHECK(thrown_argument([&] { embedded_loss<T> E(cosface_loss<T>(), uss_loss<T>(), neg); }) ==
          "warmup_epochs");
    CHECK(thrown_argument([&] {
            embedded_loss<T, arcface_loss<T>, ss_softmax_loss<T>> E(arcface_loss<T>(),
                                                                    ss_softmax_loss<T>(), neg);
          }) == "warmup_epochs");
  }
  SECTION("options changed after construction are checked as the constructor checks them") {
    uss_loss<T> L;
    L.set_bias(T(3));
    const binary_options<T> before = L.opts();
    auto with = [&](auto change) {
      binary_options<T> o = L.opts();
      change(o);
      return o;
    };
    CHECK(thrown_argument([&] { L.set_options(with([](auto& o) { o.s = T(0); })); }) == "s");
    CHECK(thrown_argument([&] { L.set_options(with([](auto& o) { o.m = T(5); })); }) == "m");
    CHECK(thrown_argument([&] { L.set_options(with([](auto& o) { o.m = T(-0.1); })); }) == "m");
    CHECK(thrown_argument([&] {
            L.set_options(with([](auto& o) { o.s = std::numeric_limits<T>::infinity(); }));
          }) == "s");
    // A refused change leaves the options and the bias as they were.
    CHECK(L.opts().s == before.s);
    CHECK(L.opts().m == before.m);
    CHECK(L.bias() == T(3));
    // An accepted one takes effect and keeps the bias.
    L.set_options(with([](auto& o) { o.s = T(32); }));
    CHECK(L.opts().s == T(32));
    CHECK(L.bias() == T(3));
    CHECK(L.threshold() == T(3) / T(32));
    // A negative tile width, on any loss.
    binary_options<T> neg;
    neg.tile_columns = -1;
    uss_loss<T> U(neg);
    CHECK(thrown_argument([&] { run_loss(U, p, refs_mode::in_batch, true); }) == "tile_columns");
    auto cneg = cosface_options<T>();
    cneg.tile_columns = -2;
    cosface_loss<T> C(cneg);
    CHECK(thrown_argument([&] { run_loss(C, p, refs_mode::weights, true); }) == "tile_columns");
  }
  SECTION("wrong shapes") {
    const device_problem<T> d(p);
    auto g = backends::make_buffer<T>(pol, p.B * p.D);
    const matrix_view<const T> xv = d.input();
    const vector_view<const index_t> yv = d.labels();
    cosface_loss<T> L;
    // weight with another embedding dimension
    matrix_view<const T> w_bad(backends::data_ptr(d.w), p.C - 1, p.D + 1);
    CHECK(thrown_argument([&] { L.forward(pol, xv, yv, references<T>::weights(w_bad)); }) ==
          "weight");
    // labels of another length
    CHECK(thrown_argument([&] {
            L.forward(pol, xv, vector_view<const index_t>(backends::data_ptr(d.y), p.B - 1),
                      references<T>::weights(d.rows()));
          }) == "labels");
    // gradient buffers of the wrong shape
    auto refs = references<T>::weights(d.rows());
    CHECK(thrown_argument([&] {
            L.forward_backward(
                pol, xv, yv, refs,
                gradients<T>{matrix_view<T>(backends::data_ptr(g), p.B - 1, p.D), {}});
          }) == "gradients.input");
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, yv, refs,
                               gradients<T>{matrix_view<T>(backends::data_ptr(g), p.B, p.D),
                                            matrix_view<T>(backends::data_ptr(g), 2, p.D)});
          }) == "gradients.weight");
    // a bias gradient output for a loss without bias, or of the wrong size
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, yv, refs,
                               gradients<T>(matrix_view<T>(backends::data_ptr(g), p.B, p.D), {},
                                            nullptr, vector_view<T>(backends::data_ptr(g), 1)));
          }) == "gradients.bias");
    uss_loss<T> U;
    CHECK(thrown_argument([&] {
            U.forward_backward(pol, xv, yv, references<T>::memory(d.rows()),
                               gradients<T>(matrix_view<T>(backends::data_ptr(g), p.B, p.D), {},
                                            nullptr, vector_view<T>(backends::data_ptr(g), 2)));
          }) == "gradients.bias");
    // an upstream gradient of B values with reduction::mean (which takes one), and a
    // per-anchor output of the wrong size
    auto u = upload(std::vector<T>(static_cast<std::size_t>(p.B), T(1)));
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, yv, refs,
                               gradients<T>{matrix_view<T>(backends::data_ptr(g), p.B, p.D), {}},
                               vector_view<const T>(backends::data_ptr(u), p.B));
          }) == "upstream");
    CHECK(thrown_argument([&] {
            L.forward(pol, xv, yv, refs, vector_view<T>(backends::data_ptr(g), p.B + 1));
          }) == "per_anchor");
    // a per-identity bias with in-batch pairs, or sized for another class count
    ss_bce_loss<T> S(p.C);
    CHECK(thrown_argument([&] { S.forward(pol, xv, yv, references<T>::in_batch()); }) ==
          "references");
    ss_bce_loss<T> S2(p.C + 2);
    CHECK(thrown_argument([&] { S2.forward(pol, xv, yv, references<T>::memory(d.rows())); }) ==
          "bias");
    // a softmax head over in-batch pairs
    CHECK(thrown_argument([&] { L.forward(pol, xv, yv, references<T>::in_batch()); }) ==
          "references");
  }
  SECTION("strided labels") {
    // Labels are read as one contiguous array: a view with another stride is refused.
    const device_problem<T> d(p);
    std::vector<index_t> spread(static_cast<std::size_t>(2 * p.B), 0);
    for (index_t i = 0; i < p.B; ++i) spread[static_cast<std::size_t>(2 * i)] = p.y[i];
    auto ys = upload(spread);
    const vector_view<const index_t> every_other(backends::data_ptr(ys), p.B, 2);
    const vector_view<const index_t> repeated(backends::data_ptr(ys), p.B, 0);
    const matrix_view<const T> xv = d.input(), wv = d.rows();
    auto g = backends::make_buffer<T>(pol, p.B * p.D);
    auto gw = backends::make_buffer<T>(pol, p.C * p.D);
    const gradients<T> grads(matrix_view<T>(backends::data_ptr(g), p.B, p.D),
                             matrix_view<T>(backends::data_ptr(gw), p.C, p.D));
    cosface_loss<T> L;
    uss_loss<T> U;
    CHECK(thrown_argument([&] { L.forward(pol, xv, every_other, references<T>::weights(wv)); }) ==
          "labels");
    CHECK(thrown_argument([&] { L.forward(pol, xv, repeated, references<T>::weights(wv)); }) ==
          "labels");
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, every_other, references<T>::weights(wv), grads);
          }) == "labels");
    CHECK(thrown_argument([&] { U.forward(pol, xv, every_other, references<T>::in_batch()); }) ==
          "labels");
    CHECK(thrown_argument([&] { U.forward(pol, xv, every_other, references<T>::memory(wv)); }) ==
          "labels");
    losses::feature_memory<T, policy_type> m(p.C, p.D, {}, pol);
    CHECK(thrown_argument([&] { m.update(xv, every_other); }) == "labels");
    embedded_loss<T> E;
    CHECK(thrown_argument([&] { E.step(pol, xv, every_other, wv, grads, m, 0); }) == "labels");
  }
  SECTION("null data") {
    // A view with rows and columns but no memory behind it is named before anything is read.
    const device_problem<T> d(p);
    const matrix_view<const T> xv = d.input(), wv = d.rows();
    const vector_view<const index_t> yv = d.labels();
    const matrix_view<const T> no_x(nullptr, p.B, p.D), no_w(nullptr, p.C, p.D);
    auto g = backends::make_buffer<T>(pol, p.B * p.D);
    auto gw = backends::make_buffer<T>(pol, p.C * p.D);
    const matrix_view<T> gwv(backends::data_ptr(gw), p.C, p.D);
    const gradients<T> grads(matrix_view<T>(backends::data_ptr(g), p.B, p.D), gwv);
    const gradients<T> no_gx(matrix_view<T>(nullptr, p.B, p.D), gwv);
    cosface_loss<T> L;
    uss_loss<T> U;
    CHECK(thrown_argument([&] { L.forward(pol, no_x, yv, references<T>::weights(wv)); }) ==
          "input");
    CHECK(thrown_argument([&] { U.forward(pol, no_x, yv, references<T>::in_batch()); }) == "input");
    CHECK(thrown_argument([&] { L.forward(pol, xv, yv, references<T>::weights(no_w)); }) ==
          "weight");
    CHECK(thrown_argument([&] { U.forward(pol, xv, yv, references<T>::memory(no_w)); }) ==
          "memory");
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, yv, references<T>::weights(wv), no_gx);
          }) == "gradients.input");
    CHECK(thrown_argument([&] { L.backward(pol, xv, yv, references<T>::weights(wv), no_gx); }) ==
          "gradients.input");
    embedded_loss<T> E;
    losses::feature_memory<T, policy_type> m(p.C, p.D, {}, pol);
    CHECK(thrown_argument([&] { E.step(pol, no_x, yv, wv, grads, m, 0); }) == "input");
    CHECK(thrown_argument([&] { E.step(pol, xv, yv, no_w, grads, m, 0); }) == "weight");
    CHECK(thrown_argument([&] { E.step(pol, xv, yv, wv, no_gx, m, 0); }) == "gradients.input");
    // labels, a weight or bias gradient, per-anchor losses and an upstream gradient with a
    // size but no memory
    const vector_view<const index_t> no_y(nullptr, p.B);
    CHECK(thrown_argument([&] { L.forward(pol, xv, no_y, references<T>::weights(wv)); }) ==
          "labels");
    CHECK(thrown_argument([&] { U.forward(pol, xv, no_y, references<T>::in_batch()); }) ==
          "labels");
    CHECK(thrown_argument([&] { m.update(xv, no_y); }) == "labels");
    CHECK(thrown_argument([&] { m.update(no_x, yv); }) == "input");
    const gradients<T> no_gw(grads.input, matrix_view<T>(nullptr, p.C, p.D));
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, yv, references<T>::weights(wv), no_gw);
          }) == "gradients.weight");
    gradients<T> no_gb(grads.input);
    no_gb.bias = vector_view<T>(nullptr, 1);
    CHECK(thrown_argument([&] {
            U.forward_backward(pol, xv, yv, references<T>::in_batch(), no_gb);
          }) == "gradients.bias");
    auto none = cosface_options<T>();
    none.reduce = reduction::none;
    cosface_loss<T> N(none);
    CHECK(thrown_argument([&] {
            N.forward(pol, xv, yv, references<T>::weights(wv), vector_view<T>(nullptr, p.B));
          }) == "per_anchor");
    CHECK(thrown_argument([&] {
            N.forward_backward(pol, xv, yv, references<T>::weights(wv), grads,
                               vector_view<const T>(nullptr, p.B));
          }) == "upstream");
    // reduction::none without an output for the per-anchor losses: forward and
    // forward_backward refuse (their loss would be the sum); backward, gradients only, not.
    CHECK(thrown_argument([&] { N.forward(pol, xv, yv, references<T>::weights(wv)); }) ==
          "per_anchor");
    CHECK(thrown_argument([&] {
            N.forward_backward(pol, xv, yv, references<T>::weights(wv), grads);
          }) == "per_anchor");
    CHECK_NOTHROW(N.backward(pol, xv, yv, references<T>::weights(wv), grads));
  }
  SECTION("a weight gradient with references that are not class weights") {
    // Only class weights are learnable: the memory and the batch get no gradient.
    const device_problem<T> d(p);
    const matrix_view<const T> xv = d.input();
    const vector_view<const index_t> yv = d.labels();
    auto g = backends::make_buffer<T>(pol, p.B * p.D);
    auto gw = backends::make_buffer<T>(pol, p.C * p.D);
    const matrix_view<T> gxv(backends::data_ptr(g), p.B, p.D);
    const gradients<T> for_memory(gxv, matrix_view<T>(backends::data_ptr(gw), p.C, p.D));
    const gradients<T> for_batch(gxv, matrix_view<T>(backends::data_ptr(gw), p.B, p.D));
    const auto memory = references<T>::memory(d.rows());
    const auto masked = references<T>::memory(d.rows(), d.valid_flags());
    uss_loss<T> U;
    ss_softmax_loss<T> S;
    cosface_loss<T> L;
    CHECK(thrown_argument([&] { U.forward_backward(pol, xv, yv, memory, for_memory); }) ==
          "gradients.weight");
    CHECK(thrown_argument([&] { U.backward(pol, xv, yv, masked, for_memory); }) ==
          "gradients.weight");
    CHECK(thrown_argument([&] {
            U.forward_backward(pol, xv, yv, references<T>::in_batch(), for_batch);
          }) == "gradients.weight");
    CHECK(thrown_argument([&] { S.forward_backward(pol, xv, yv, masked, for_memory); }) ==
          "gradients.weight");
    CHECK(thrown_argument([&] { L.forward_backward(pol, xv, yv, memory, for_memory); }) ==
          "gradients.weight");
  }
  SECTION("no anchor with a negative") {
    // Every reference is a positive: the data-dependent bias (mean over anchors of the LSE
    // of their negatives) has nothing to start from.
    const device_problem<T> d(p);
    const matrix_view<const T> xv = d.input();
    auto zeros = upload(std::vector<index_t>(static_cast<std::size_t>(p.B), 0));
    const vector_view<const index_t> same(backends::data_ptr(zeros), p.B);
    const auto one_row = references<T>::memory(d.rows().row_block(0, 1));
    uss_loss<T> U;
    CHECK(thrown_argument([&] { U.forward(pol, xv, same, one_row); }) == "references");
    CHECK(thrown_argument([&] { U.forward(pol, xv, same, references<T>::in_batch()); }) ==
          "references");
    auto g = backends::make_buffer<T>(pol, p.B * p.D);
    const gradients<T> grads(matrix_view<T>(backends::data_ptr(g), p.B, p.D));
    CHECK(thrown_argument([&] {
            U.forward_backward(pol, xv, same, references<T>::in_batch(), grads);
          }) == "references");
    ss_bce_loss<T> S(1);
    CHECK(thrown_argument([&] { S.forward(pol, xv, same, one_row); }) == "references");
    // The embedded loss over a memory of one identity, written by the batch itself.
    embedded_options<T> now;
    now.warmup_epochs = 0;
    embedded_loss<T> E(cosface_loss<T>(), uss_loss<T>(), now);
    losses::feature_memory<T, policy_type> m(1, p.D, {}, pol);
    m.update(xv, same);
    auto gw = backends::make_buffer<T>(pol, p.D);
    CHECK(thrown_argument([&] {
            E.step(pol, xv, same, d.rows().row_block(0, 1),
                   gradients<T>(grads.input, matrix_view<T>(backends::data_ptr(gw), 1, p.D)), m, 0);
          }) == "references");
  }
  SECTION("an upstream gradient of the wrong size") {
    const device_problem<T> d(p);
    const matrix_view<const T> xv = d.input();
    const vector_view<const index_t> yv = d.labels();
    auto u = upload(std::vector<T>(static_cast<std::size_t>(2 * p.B), T(1)));
    auto g = backends::make_buffer<T>(pol, p.B * p.D);
    const gradients<T> grads(matrix_view<T>(backends::data_ptr(g), p.B, p.D));
    auto o = cosface_options<T>();
    o.reduce = reduction::none;
    cosface_loss<T> L(o);
    const auto refs = references<T>::weights(d.rows());
    for (index_t n : {p.B - 1, p.B + 1, index_t(1)}) {
      INFO(n << " upstream values for " << p.B << " anchors");
      CHECK(thrown_argument([&] {
              L.forward_backward(pol, xv, yv, refs, grads,
                                 vector_view<const T>(backends::data_ptr(u), n));
            }) == "upstream");
      CHECK(thrown_argument([&] {
              L.backward(pol, xv, yv, refs, grads, vector_view<const T>(backends::data_ptr(u), n));
            }) == "upstream");
    }
    // the right size, but not contiguous
    CHECK(thrown_argument([&] {
            L.forward_backward(pol, xv, yv, refs, grads,
                               vector_view<const T>(backends::data_ptr(u), p.B, 2));
          }) == "upstream");
    uss_loss<T> U;
    {
      auto o = U.opts();
      o.reduce = reduction::none;
      U.set_options(o);
    }
    CHECK(thrown_argument([&] {
            U.forward_backward(pol, xv, yv, references<T>::memory(d.rows()), grads,
                               vector_view<const T>(backends::data_ptr(u), p.B + 1));
          }) == "upstream");
  }
  SECTION("shards that do not fit in the classes") {
    const device_problem<T> d(p);
    const matrix_view<const T> xv = d.input();
    const vector_view<const index_t> yv = d.labels();
    cosface_loss<T> L;
    const auto all = references<T>::weights(d.rows());
    CHECK(thrown_argument([&] { L.forward(pol, xv, yv, all.shard(-1, p.C)); }) == "references");
    CHECK(thrown_argument([&] { L.forward(pol, xv, yv, all.shard(1, p.C)); }) == "references");
    CHECK(thrown_argument([&] { L.forward(pol, xv, yv, all.shard(0, p.C - 1)); }) == "references");
    // a shard of no rows
    CHECK(thrown_argument([&] {
            L.forward(pol, xv, yv, references<T>::weights(d.rows().row_block(2, 0)).shard(2, p.C));
          }) == "weight");
  }
  SECTION("feature memory") {
    CHECK(thrown_argument([] { losses::feature_memory<T> m(0, 3); }) == "identities");
    CHECK(thrown_argument([] { losses::feature_memory<T> m(3, 0); }) == "dim");
    CHECK(thrown_argument([] { losses::feature_memory<T> m(3, 2, {T(1), true}); }) == "momentum");
    losses::feature_memory<T, policy_type> m(p.C, p.D, {}, pol);
    problem<T> q = p;
    q.y[0] = p.C;
    const device_problem<T> dq(q);
    CHECK(thrown_argument([&] { m.update(dq.input(), dq.labels()); }) == "labels");
    CHECK(thrown_argument([&] {
            m.update(matrix_view<const T>(backends::data_ptr(dq.x), q.B, q.D - 1), dq.labels());
          }) == "input");
    // NaN in the batch: the fused check names the input too
    problem<T> n = p;
    n.x[3] = std::numeric_limits<T>::quiet_NaN();
    const device_problem<T> dn(n);
    CHECK(thrown_argument([&] { m.update(dn.input(), dn.labels()); }) == "input");
  }
  SECTION("embedded loss") {
    // p.C identities in the weights, one fewer in the memory: a label the head accepts can
    // still be outside the memory, which the step would write.
    embedded_options<T> eo;
    eo.warmup_epochs = 1;
    embedded_loss<T> E(cosface_loss<T>(), uss_loss<T>(), eo);
    losses::feature_memory<T, policy_type> small(p.C - 1, p.D, {}, pol);
    losses::feature_memory<T, policy_type> m(p.C, p.D, {}, pol);
    losses::feature_memory<T, policy_type> other_dim(p.C, p.D + 1, {}, pol);
    problem<T> q = p;
    q.y[1] = p.C - 1;
    const device_problem<T> d(q);
    auto g = backends::make_buffer<T>(pol, q.B * q.D);
    auto gw = backends::make_buffer<T>(pol, q.C * q.D);
    const matrix_view<const T> xv = d.input(), wv = d.rows();
    const vector_view<const index_t> yv = d.labels();
    const gradients<T> grads(matrix_view<T>(backends::data_ptr(g), q.B, q.D),
                             matrix_view<T>(backends::data_ptr(gw), q.C, q.D));
    CHECK(thrown_argument([&] { E.step(pol, xv, yv, wv, grads, small, 0); }) == "labels");
    CHECK(thrown_argument([&] { E.forward(pol, xv, yv, wv, small, 0); }) == "labels");
    CHECK(thrown_argument([&] { E.step(pol, xv, yv, wv, grads, other_dim, 0); }) == "memory");
    CHECK(thrown_argument([&] { E.step(pol, xv, yv, wv, grads, m, -1); }) == "epoch");
    // class weights without rows, or of another dimension: named before any value is read
    CHECK(thrown_argument([&] {
            E.step(pol, xv, yv, matrix_view<const T>(backends::data_ptr(d.w), 0, q.D), grads, m, 0);
          }) == "weight");
    CHECK(thrown_argument([&] {
            E.step(pol, xv, yv, matrix_view<const T>(backends::data_ptr(d.w), q.C - 1, q.D - 1),
                   grads, m, 0);
          }) == "weight");
    // an s2s part on a memory nothing was written to (no warm-up)
    embedded_options<T> now;
    now.warmup_epochs = 0;
    embedded_loss<T> E0(cosface_loss<T>(), uss_loss<T>(), now);
    CHECK(thrown_argument([&] { E0.step(pol, xv, yv, wv, grads, m, 0); }) == "valid");
    // a bias gradient output of the wrong size (USS has one bias)
    const gradients<T> bad_bias(grads.input, grads.weight, nullptr,
                                vector_view<T>(backends::data_ptr(gw), 2));
    CHECK(thrown_argument([&] { E.step(pol, xv, yv, wv, bad_bias, m, 0); }) == "gradients.bias");
    // NaN or Inf in the weights or the input
    problem<T> n = q;
    n.w[5] = std::numeric_limits<T>::infinity();
    auto wn = upload(n.w);
    CHECK(thrown_argument([&] {
            E.step(pol, xv, yv, matrix_view<const T>(backends::data_ptr(wn), q.C, q.D), grads, m,
                   0);
          }) == "weight");
    n.x[0] = std::numeric_limits<T>::quiet_NaN();
    auto xn = upload(n.x);
    CHECK(thrown_argument([&] {
            E.step(pol, matrix_view<const T>(backends::data_ptr(xn), q.B, q.D), yv, wv, grads, m,
                   0);
          }) == "input");
  }
}

TEST_CASE("bad input to gradcheck names the argument", "[gradcheck][errors]") {
  auto f = [](std::span<const double> x) { return x[0]; };
  CHECK(thrown_argument([&] { gradcheck(f, {1.0, 2.0}, {1.0}); }) == "analytic");
  CHECK(thrown_argument([&] { gradcheck(f, {}, {}); }) == "x");
  CHECK(thrown_argument([&] { gradcheck(f, {NAN}, {1.0}); }) == "x");
  gradcheck_options o;
  o.rel_step = 0;
  CHECK(thrown_argument([&] { gradcheck(f, {1.0}, {1.0}, o); }) == "rel_step");
}

// The value check's host count (validate.hpp) against std::isfinite, over every kind of
// special value at every position of rows of several lengths (the vectorised loop's body and
// its remainder): signed zeros, subnormals, the largest finite values, both infinities,
// quiet and signalling NaNs of either sign and with payloads.
TEMPLATE_TEST_CASE("the NaN/Inf count of the value check agrees with isfinite", "[losses][errors]",
                   float, double) {
  using T = TestType;
  using L = std::numeric_limits<T>;
  const T specials[] = {T(0),
                        -T(0),
                        L::denorm_min(),
                        -L::denorm_min(),
                        L::min(),
                        L::max(),
                        -L::max(),
                        L::lowest(),
                        T(1.5),
                        L::infinity(),
                        -L::infinity(),
                        L::quiet_NaN(),
                        -L::quiet_NaN(),
                        L::signaling_NaN(),
                        static_cast<T>(std::nan("7")),
                        static_cast<T>(-std::nan("12345"))};
  for (const index_t n : {1, 7, 16, 33, 100}) {
    for (std::size_t a = 0; a < std::size(specials); ++a) {
      for (std::size_t b = 0; b < std::size(specials); ++b) {
        std::vector<T> row(std::size_t(n), T(0.25));
        row[std::size_t(n) - 1] = specials[a];
        row[std::size_t(n) / 2] = specials[b];
        index_t expected = 0;
        for (const T v : row) expected += std::isfinite(v) ? 0 : 1;
        CAPTURE(n, a, b);
        CHECK(losses::detail::count_nonfinite_host(row.data(), n) == expected);
        CHECK(losses::detail::count_nonfinite_row<T>{matrix_view<const T>(row.data(), 1, n)}(0) ==
              expected);
      }
    }
  }
}

TEMPLATE_TEST_CASE("NaN or Inf anywhere in the references is refused before anything is written",
                   "[losses][errors]", float, double) {
  using T = TestType;
  // On the CPUs the tile driver finds the references' NaN/Inf from the norms of its first
  // walk (tile_driver's check_tile) instead of a read of every value before the call; over
  // tiles of 5 columns of 23, a bad value in the first, a middle or the last tile, with the
  // cosines kept or computed again, for a kernel with statistics passes (CosFace, USS
  // log_of_sums) and one without (USS per_pair), whose element pass checks first. The error
  // counts every bad value, and the outputs keep what they held.
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(6, 23, 8, 13);
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  struct placement {
    std::vector<std::size_t> at;
    std::vector<T> values;
  };
  const std::size_t D = std::size_t(p.D);
  const placement places[] = {
      {{0}, {nan}}, {{12 * D + 3}, {-inf}}, {{22 * D + 7, 9 * D, 9 * D + 1}, {inf, nan, -nan}}};
  const T sentinel = T(7);
  for (const placement& pl : places) {
    problem<T> q = p;
    for (std::size_t k = 0; k < pl.at.size(); ++k) q.w[pl.at[k]] = pl.values[k];
    const std::string count = "holds " + std::to_string(pl.at.size()) + " NaN or Inf value(s)";
    const device_problem<T> d(q);
    for (index_t tile : {index_t(0), index_t(5)}) {
      for (std::size_t budget : {std::size_t(0), std::size_t(1) << 20}) {
        auto check = [&](auto loss, refs_mode mode, const char* name) {
          INFO(name << ", first bad value at " << pl.at[0] << ", tile " << tile << ", budget "
                    << budget);
          const bool weights = mode == refs_mode::weights;
          auto gx = upload(std::vector<T>(std::size_t(q.B * q.D), sentinel));
          auto gw = upload(std::vector<T>(weights ? std::size_t(q.C * q.D) : 0, sentinel));
          auto per = upload(std::vector<T>(std::size_t(q.B), sentinel));
          const gradients<T> g(
              matrix_view<T>(backends::data_ptr(gx), q.B, q.D),
              weights ? matrix_view<T>(backends::data_ptr(gw), q.C, q.D) : matrix_view<T>{});
          const references<T> refs =
              weights ? references<T>::weights(d.rows()) : references<T>::memory(d.rows());
          std::string argument, what;
          try {
            loss.forward_backward(pol, d.input(), d.labels(), refs, g, {},
                                  vector_view<T>(backends::data_ptr(per), q.B));
          } catch (const unitsface::invalid_argument& e) {
            argument = e.argument();
            what = e.what();
          }
          CHECK(argument == (weights ? "weight" : "memory"));
          CHECK(what.find(count) != std::string::npos);
          for (T v : download(gx)) REQUIRE(v == sentinel);
          for (T v : download(gw)) REQUIRE(v == sentinel);
          for (T v : download(per)) REQUIRE(v == sentinel);
        };
        auto cosface = [&] {
          auto o = cosface_options<T>(T(0.35), T(16));
          o.tile_columns = tile;
          o.cosine_cache_bytes = budget;
          o.reduce = reduction::none;
          return cosface_loss<T>(o);
        };
        auto uss = [&](uss_form form, bool clamp) {
          auto L = fixed_bias_loss<T>(T(12), T(0.1), form, clamp, false, q.C, T(2), tile);
          auto o = L.opts();
          o.cosine_cache_bytes = budget;
          o.reduce = reduction::none;
          L.set_options(o);
          return L;
        };
        check(cosface(), refs_mode::weights, "cosface");
        check(uss(uss_form::log_of_sums, false), refs_mode::memory, "uss log_of_sums");
        check(uss(uss_form::per_pair, true), refs_mode::weights, "uce head per_pair");
      }
    }
  }
}

TEMPLATE_TEST_CASE("finite references whose squares overflow are not taken for NaN or Inf",
                   "[losses][errors]", float, double) {
  using T = TestType;
  // A norm that is not finite sends the driver's check to a count of the values; finite
  // values whose sum of squares overflows have none to count, so the call goes on, as it
  // did when every value was counted before the call.
  problem<T> q = make_problem<T>(6, 23, 8, 17);
  for (index_t k = 0; k < q.D; ++k) q.w[std::size_t(14 * q.D + k)] = std::numeric_limits<T>::max();
  for (index_t tile : {index_t(0), index_t(5)}) {
    auto o = cosface_options<T>(T(0.35), T(16));
    o.tile_columns = tile;
    cosface_loss<T> L(o);
    INFO("tile " << tile);
    CHECK(thrown_argument([&] { run_loss(L, q, refs_mode::weights, true); }) == "<no exception>");
  }
}
