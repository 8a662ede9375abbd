// The public calls the other loss suites leave out: losses over shards of the references
// (references::shard, through the loss calls and through the tile driver's phases with merged
// row statistics), backward(), the embedded loss with other pairs of parts than CosFace + USS,
// inputs and gradient outputs in padded, column-major and non-unit-stride views, and the
// training-loop API (options changed after construction, the once-only bias initialisation,
// the embedded step's parts, the memory's checkpoints). Every expectation comes from another
// computation: the naive long-double reference (reference_losses.hpp), central finite
// differences of it, the same loss over all references at once, the same loss on contiguous
// copies, or the inputs themselves.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "loss_cases.hpp"
#include "thrown_argument.hpp"
#include "unitsface/core/gradcheck.hpp"
#include "unitsface/losses/detail/evaluate.hpp"
#include "unitsface/losses/detail/run.hpp"
#include "unitsface/losses/kernels/kernel.hpp"
#include "unitsface/losses/kernels/log_of_sums.hpp"
#include "unitsface/losses/kernels/per_pair.hpp"
#include "unitsface/losses/kernels/softmax.hpp"
#include "unitsface/losses/kernels/ss_softmax.hpp"

// The loss suites are compiled as one translation unit: everything of this file lives in a
// namespace of its own.
namespace api_coverage_test {

using namespace unitsface;
using namespace unitsface::test;
using ld = reference::ld;

template <class T>
constexpr double tolerance() {
  return std::is_same_v<T, double> ? 1e-12 : 1e-5;
}

/// |a - b| <= tol |b|, in double.
template <class A, class B>
bool within(A a, B b, double tol) {
  return std::fabs(double(a) - double(b)) <= tol * std::fabs(double(b));
}

/// A loss call's results on the host, with the bias the call used.
template <class T>
struct results : outcome<T> {
  std::vector<T> bias_used;
  T s2c_loss = T(0), s2s_loss = T(0);  // an embedded step's parts
};

template <class T>
references<T> references_of(const device_problem<T>& d, refs_mode mode) {
  switch (mode) {
    case refs_mode::weights:
      return references<T>::weights(d.rows());
    case refs_mode::memory:
      return references<T>::memory(d.rows());
    case refs_mode::masked:
      return references<T>::memory(d.rows(), d.valid_flags());
    case refs_mode::in_batch:
      break;
  }
  return references<T>::in_batch();
}

/// Gradients of any loss object by backward() or forward_backward(), in the test backend;
/// `upstream` (B values) goes with a loss evaluated with reduction::none.
template <class T, class Loss>
results<T> gradient_call(Loss& L, const problem<T>& p, refs_mode mode, bool use_backward,
                         const std::vector<T>& upstream = {}) {
  const auto& pol = policy();
  const device_problem<T> d(p);
  const bool weights = mode == refs_mode::weights;
  auto gx = backends::make_buffer<T>(pol, p.B * p.D);
  auto gw = backends::make_buffer<T>(pol, weights ? p.C * p.D : 0);
  auto u = upload(upstream);
  const gradients<T> g(
      matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
      weights ? matrix_view<T>(backends::data_ptr(gw), p.C, p.D) : matrix_view<T>{});
  const vector_view<const T> uv =
      upstream.empty() ? vector_view<const T>{}
                       : vector_view<const T>(backends::data_ptr(u), index_t(upstream.size()));
  const references<T> refs = references_of(d, mode);
  // forward_backward with a per-anchor output (required by reduction::none); backward needs
  // none.
  auto per = backends::make_buffer<T>(pol, p.B);
  const loss_result<T> r = use_backward
                               ? L.backward(pol, d.input(), d.labels(), refs, g, uv)
                               : L.forward_backward(pol, d.input(), d.labels(), refs, g, uv,
                                                    vector_view<T>(backends::data_ptr(per), p.B));
  results<T> out;
  out.loss = r.loss;
  out.gx = download<T>(backends::data_ptr(gx), p.B * p.D);
  if (weights) out.gw = download<T>(backends::data_ptr(gw), p.C * p.D);
  out.gb = r.grad_bias;
  out.bias_used = r.bias_used;
  return out;
}

/// v times a, in double.
template <class T>
std::vector<double> times(const std::vector<T>& v, T a) {
  std::vector<double> out(v.size());
  for (std::size_t k = 0; k < v.size(); ++k) out[k] = double(v[k]) * double(a);
  return out;
}

/// A binary loss held at the given biases (1 value, or one per reference row).
template <class T>
binary_loss<T> held_binary(T s, T m, uss_form form, bool clamp, const std::vector<T>& bias) {
  const bool per_column = bias.size() > 1;
  auto L = fixed_bias_loss<T>(s, m, form, clamp, per_column,
                              static_cast<index_t>(per_column ? bias.size() : 1), T(0));
  L.set_biases(bias);
  return L;
}

/// Biases that differ from class to class, so that a bias read at the wrong class shows.
template <class T>
std::vector<T> varied_biases(index_t C) {
  std::vector<T> b(static_cast<std::size_t>(C));
  for (index_t j = 0; j < C; ++j) b[static_cast<std::size_t>(j)] = T(1.5) + T(0.3) * T(j);
  return b;
}

template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// ---------------------------------------------------------------------------------------
// Shards of the references

/// Shard bounds over the 13 classes of the shard problems: uneven, one shard of a single
/// class, and classes [8, 13), which no anchor has (make_problem draws the labels of a batch
/// of 9 from [0, 4]), so that shard holds negatives only.
const index_t shard_bounds[] = {0, 2, 3, 8, 13};
/// The same with an empty shard (a device holding no classes) inside.
const index_t shard_bounds_with_empty[] = {0, 2, 3, 3, 8, 13};

/// Rows [first, first + n) of the problem's references as classes [first, first + n) of C.
template <class T>
references<T> shard_of(const device_problem<T>& d, refs_mode mode, index_t first, index_t n) {
  const matrix_view<const T> rows = d.rows().row_block(first, n);
  const references<T> r =
      mode == refs_mode::weights
          ? references<T>::weights(rows)
          : references<T>::memory(rows,
                                  mode == refs_mode::masked ? d.valid_flags() + first : nullptr);
  return r.shard(first, d.C);
}

/// A per-pair binary loss is a sum over pairs: each shard is evaluated by the loss calls on
/// its own and the losses, input gradients and bias gradients add up (the weight gradient of
/// a shard is its rows of the whole one).
template <class T>
outcome<T> per_pair_over_shards(binary_loss<T> L, const problem<T>& p, refs_mode mode) {
  const auto& pol = policy();
  const device_problem<T> d(p);
  const bool weights = mode == refs_mode::weights;
  outcome<T> out;
  out.gx.assign(static_cast<std::size_t>(p.B * p.D), T(0));
  out.gw.assign(static_cast<std::size_t>(weights ? p.C * p.D : 0), T(0));
  out.gb.assign(L.biases().size(), T(0));
  for (std::size_t s = 0; s + 1 < std::size(shard_bounds); ++s) {
    const index_t first = shard_bounds[s], n = shard_bounds[s + 1] - first;
    INFO("shard [" << first << ", " << first + n << ")");
    const references<T> r = shard_of(d, mode, first, n);
    auto gx = backends::make_buffer<T>(pol, p.B * p.D);
    auto gw = backends::make_buffer<T>(pol, weights ? n * p.D : 0);
    const gradients<T> g(
        matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
        weights ? matrix_view<T>(backends::data_ptr(gw), n, p.D) : matrix_view<T>{});
    const loss_result<T> res = L.forward_backward(pol, d.input(), d.labels(), r, g);
    // forward over the shard: the same value
    CHECK(within(L.forward(pol, d.input(), d.labels(), r), res.loss, tolerance<T>()));
    out.loss += res.loss;
    const auto gxs = download<T>(backends::data_ptr(gx), p.B * p.D);
    for (std::size_t k = 0; k < gxs.size(); ++k) out.gx[k] += gxs[k];
    if (weights) {
      const auto gws = download<T>(backends::data_ptr(gw), n * p.D);
      std::copy(gws.begin(), gws.end(), out.gw.begin() + first * p.D);
    }
    // The bias gradient comes in the loss's layout (1 value, or one per class of the whole).
    REQUIRE(res.grad_bias.size() == out.gb.size());
    for (std::size_t k = 0; k < out.gb.size(); ++k) out.gb[k] += res.grad_bias[k];
  }
  return out;
}

TEMPLATE_TEST_CASE("shards: per-pair losses evaluated shard by shard add up to the whole",
                   "[losses][shards][api]", float, double) {
  using T = TestType;
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(9, 13, 6, 71);
  const problem<double> pd = p.template as<double>();
  struct per_pair_case {
    const char* name;
    refs_mode mode;
    bool per_column, clamp;
    T s, m;
  };
  const per_pair_case cases[] = {
      {"uss memory, clamp", refs_mode::memory, false, true, T(8), T(0.1)},
      {"uss masked memory", refs_mode::masked, false, false, T(12), T(0.1)},
      {"ss_bce masked memory", refs_mode::masked, true, false, T(12), T(0.1)},
      {"bce head", refs_mode::weights, true, true, T(8), T(0.4)},
      {"uce head", refs_mode::weights, false, true, T(8), T(0.4)},
  };
  for (const per_pair_case& c : cases) {
    INFO(c.name);
    const std::vector<T> bias = c.per_column ? varied_biases<T>(p.C) : std::vector<T>{T(3)};
    const auto L = held_binary<T>(c.s, c.m, uss_form::per_pair, c.clamp, bias);
    const outcome<T> sharded = per_pair_over_shards(L, p, c.mode);
    auto whole_loss = L;
    const outcome<T> whole = run_loss(whole_loss, p, c.mode, true);
    const double want = reference::binary(reference_pairs(pd, c.mode), as_double(bias), false,
                                          c.clamp, double(c.s), double(c.m));
    CHECK(within(sharded.loss, want, tol));
    CHECK(within(sharded.loss, whole.loss, tol));
    CHECK(rel_diff(sharded.gx, whole.gx) <= tol);
    CHECK(rel_diff(sharded.gw, whole.gw) <= tol);
    CHECK(rel_diff(sharded.gb, whole.gb) <= tol);
  }
}

TEMPLATE_TEST_CASE(
    "shards: a label outside the rows of a shard has negatives only, an empty shard is refused",
    "[losses][shards][api]", float, double) {
  using T = TestType;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(9, 13, 6, 72);
  const device_problem<T> d(p);
  auto U = held_binary<T>(T(12), T(0.1), uss_form::per_pair, false, {T(3)});
  // Rows [8, 13) of 13 classes: every label of the batch (in [0, 4]) lies outside the shard
  // and inside the total, so the call accepts them and every pair is a negative.
  const references<T> tail = shard_of(d, refs_mode::memory, 8, 5);
  CHECK(tail.classes() == 13);
  CHECK(tail.label_offset == 8);
  const T got = U.forward(pol, d.input(), d.labels(), tail);
  const problem<double> pd = p.template as<double>();
  problem<double> only_tail = pd;
  only_tail.C = 5;
  only_tail.w.assign(pd.w.begin() + 8 * p.D, pd.w.end());
  // The reference sees the 5 rows as classes 0..4: labels moved out of that range make every
  // pair a negative, as classes 8..12 are for labels 0..4.
  for (index_t& y : only_tail.y) y += 100;
  CHECK(within(got,
               reference::binary(reference_pairs(only_tail, refs_mode::memory), {3.0}, false, false,
                                 12.0, 0.1),
               tolerance<T>()));
  // Without shard() the same rows are classes [0, 5), where labels 0..4 have positives.
  CHECK_FALSE(
      within(U.forward(pol, d.input(), d.labels(), references<T>::memory(d.rows().row_block(8, 5))),
             got, 1e-3));
  // An empty shard is refused by the loss calls (the tile driver's phases take it, below).
  CHECK(thrown_argument([&] {
          U.forward(pol, d.input(), d.labels(), shard_of(d, refs_mode::memory, 3, 0));
        }) == "memory");
}

/// The protocol of a class-sharded evaluation (docs/architecture.md) through the public
/// phases of the tile driver: every statistics pass on every shard, the per-row statistics
/// merged (an all-reduce) and finished on every shard, then the element pass on every shard
/// with the merged statistics; losses (the kernel's row term counted once) and input
/// gradients add up, each shard writes its rows of the weight gradient and of the column
/// sums. `make_kernel(first)` gives the kernel of the shard starting at class `first`.
/// Returns the loss, d/dx, d/dW and the bias gradient sums (in gb: per column, or their total
/// in gb[0] for a scalar bias) of the whole.
template <class T, class MakeKernel>
outcome<T> over_shards_by_phases(const problem<T>& p, refs_mode mode, MakeKernel make_kernel,
                                 const index_t* bounds, std::size_t nbounds) {
  using K = decltype(make_kernel(index_t(0)));
  using Stats = typename K::stats;
  using driver = losses::detail::tile_driver<policy_type, T>;
  const auto& pol = policy();
  const device_problem<T> d(p);
  const index_t B = p.B, D = p.D;
  const bool weights = mode == refs_mode::weights;
  const std::size_t S = nbounds - 1;
  evaluation_options eo;
  eo.tile_columns = 2;  // several tiles per shard

  std::vector<driver> drivers;
  std::vector<K> kernel;
  std::vector<decltype(backends::make_buffer<T>(pol, 0))> gw;
  drivers.reserve(S);
  for (std::size_t s = 0; s < S; ++s) {
    const index_t first = bounds[s], n = bounds[s + 1] - first;
    gw.push_back(backends::make_buffer<T>(pol, weights ? n * D : 0));
    const gradients<T> g(matrix_view<T>{}, weights
                                               ? matrix_view<T>(backends::data_ptr(gw.back()), n, D)
                                               : matrix_view<T>{});
    const losses::detail::call<T> c{d.input(), d.labels(), shard_of(d, mode, first, n), &g, {}, {}};
    drivers.push_back(losses::detail::make_driver(pol, c, eo, true, true));
    kernel.push_back(make_kernel(first));
  }
  std::vector<decltype(drivers[0].make_stats(kernel[0]))> stats;
  for (std::size_t s = 0; s < S; ++s) stats.push_back(drivers[s].make_stats(kernel[s]));

  // Row statistics carried into a later statistics pass by a shard other than the first:
  // only the values derived from the merged statistics (Stats::carried), so that merging the
  // shards' results counts every pair once.
  std::vector<Stats> merged(static_cast<std::size_t>(B));
  for (int pass = 1; pass <= K::stat_passes; ++pass) {
    std::vector<std::vector<Stats>> got(S);
    for (std::size_t s = 0; s < S; ++s) {
      if (pass > 1) {
        std::vector<Stats> start = merged;
        if (s > 0)
          for (auto& st : start) st = st.carried();
        backends::copy_from_host(pol, start.data(), B, backends::data_ptr(stats[s]));
      }
      drivers[s].statistics_pass(kernel[s], pass, backends::data_ptr(stats[s]));
      got[s] = download<Stats>(backends::data_ptr(stats[s]), B);
    }
    merged = got[0];
    for (std::size_t s = 1; s < S; ++s)
      for (index_t i = 0; i < B; ++i) merged[i].merge(got[s][i]);
    for (std::size_t s = 0; s < S; ++s) {
      backends::copy_from_host(pol, merged.data(), B, backends::data_ptr(stats[s]));
      drivers[s].finish_pass(kernel[s], pass, backends::data_ptr(stats[s]));
    }
    merged = download<Stats>(backends::data_ptr(stats[0]), B);
  }

  outcome<T> out;
  out.gx.assign(static_cast<std::size_t>(B * D), T(0));
  out.gw.assign(static_cast<std::size_t>(weights ? p.C * D : 0), T(0));
  out.gb.assign(static_cast<std::size_t>(p.C), T(0));
  double loss = 0.0;
  for (std::size_t s = 0; s < S; ++s) {
    const index_t first = bounds[s], n = bounds[s + 1] - first;
    auto row_loss = backends::make_buffer<T>(pol, B);
    auto gx = backends::make_buffer<T>(pol, B * D);
    if (weights) {
      drivers[s].set_reference_gradient(matrix_view<T>(backends::data_ptr(gw[s]), n, D));
    }
    drivers[s].element_pass(kernel[s], backends::data_ptr(stats[s]), backends::data_ptr(row_loss),
                            true, nullptr, T(1) / T(B));
    drivers[s].finish(matrix_view<T>(backends::data_ptr(gx), B, D));
    const auto rl = download<T>(backends::data_ptr(row_loss), B);
    for (index_t i = 0; i < B; ++i) {
      loss += double(rl[i]) / double(B);
      // every shard's row loss starts with the kernel's row term: count it once
      if (s > 0) loss -= double(kernel[s].row_loss(merged[i])) / double(B);
    }
    const auto g = download<T>(backends::data_ptr(gx), B * D);
    for (std::size_t k = 0; k < g.size(); ++k) out.gx[k] += g[k];
    if (weights) {
      const auto gws = download<T>(backends::data_ptr(gw[s]), n * D);
      std::copy(gws.begin(), gws.end(), out.gw.begin() + first * D);
    }
    if constexpr (K::has_bias) {
      // A bias per column: the shard's column sums of the gradient; one scalar bias: the
      // shard's row sums, whose total is the whole's part.
      const auto cs =
          download<T>(drivers[s].bias_gradient_sums(), drivers[s].bias_gradient_sum_count());
      if (kernel[s].bias_per_column) {
        REQUIRE(index_t(cs.size()) == n);
        std::copy(cs.begin(), cs.end(), out.gb.begin() + first);
      } else {
        REQUIRE(index_t(cs.size()) == B);
        for (T v : cs) out.gb[0] += v;
      }
    }
  }
  out.loss = T(loss);
  return out;
}

TEMPLATE_TEST_CASE("shards: statistics merged between the tile driver's phases give the whole loss",
                   "[losses][shards][api]", float, double) {
  using T = TestType;
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(9, 13, 6, 73);
  const problem<double> pd = p.template as<double>();
  // Both sets of bounds: uneven shards, one without a positive of the batch, one empty.
  for (int with_empty = 0; with_empty < 2; ++with_empty) {
    const index_t* bounds = with_empty ? shard_bounds_with_empty : shard_bounds;
    const std::size_t nb =
        with_empty ? std::size(shard_bounds_with_empty) : std::size(shard_bounds);
    INFO("with an empty shard: " << with_empty);
    {
      INFO("cosface, one statistics pass, weight gradient");
      const T s = T(16), m = T(0.35);
      const auto got = over_shards_by_phases(
          p, refs_mode::weights,
          [&](index_t) {
            return kernels::softmax<T, cosface_margin<T>>{s, cosface_margin<T>{m}};
          },
          bounds, nb);
      cosface_loss<T> L(cosface_options<T>(m, s));
      const outcome<T> whole = run_loss(L, p, refs_mode::weights, true);
      const double want = reference::softmax(reference_pairs(pd, refs_mode::weights), 16.0,
                                             [](ld c) { return c - ld(0.35); });
      CHECK(within(got.loss, want, tol));
      CHECK(within(got.loss, whole.loss, tol));
      CHECK(rel_diff(got.gx, whole.gx) <= 10 * tol);
      CHECK(rel_diff(got.gw, whole.gw) <= 10 * tol);
    }
    {
      INFO("arcface (classic fallback), one statistics pass, weight gradient");
      const auto o = arcface_options<T>(T(0.5), arcface_policy::classic_fallback,
                                        arcface_gradient::exact, T(16));
      const auto got = over_shards_by_phases(
          p, refs_mode::weights,
          [&](index_t) {
            return kernels::softmax<T, arcface_margin<T>>{o.s, o.margin};
          },
          bounds, nb);
      arcface_loss<T> L(o);
      const outcome<T> whole = run_loss(L, p, refs_mode::weights, true);
      CHECK(within(got.loss, whole.loss, tol));
      CHECK(rel_diff(got.gx, whole.gx) <= 10 * tol);
      CHECK(rel_diff(got.gw, whole.gw) <= 10 * tol);
    }
    {
      INFO("uss log-of-sums, one bias per class, masked memory");
      const T s = T(12), m = T(0.1);
      const std::vector<T> bias = varied_biases<T>(p.C);
      auto bias_dev = upload(bias);
      const auto got = over_shards_by_phases(
          p, refs_mode::masked,
          [&](index_t first) {
            // the shard's kernel reads the biases from its first class on
            return kernels::log_of_sums<T>{s, m, backends::data_ptr(bias_dev) + first, true};
          },
          bounds, nb);
      auto L = held_binary<T>(s, m, uss_form::log_of_sums, false, bias);
      const outcome<T> whole = run_loss(L, p, refs_mode::masked, true);
      const double want = reference::binary(reference_pairs(pd, refs_mode::masked), as_double(bias),
                                            true, false, 12.0, 0.1);
      CHECK(within(got.loss, want, tol));
      CHECK(within(got.loss, whole.loss, tol));
      CHECK(rel_diff(got.gx, whole.gx) <= 10 * tol);
      // d loss / d b_j = -(1/s) sum_i d loss / d c_ij: the column sums
      std::vector<T> gb(got.gb.size());
      for (std::size_t j = 0; j < gb.size(); ++j) gb[j] = -got.gb[j] / s;
      CHECK(rel_diff(gb, whole.gb) <= 10 * tol);
    }
    {
      INFO("uss log-of-sums, one bias, memory");
      const T s = T(12), m = T(0.1);
      auto bias_dev = upload(std::vector<T>{T(2)});
      const auto got = over_shards_by_phases(
          p, refs_mode::memory,
          [&](index_t) {
            return kernels::log_of_sums<T>{s, m, backends::data_ptr(bias_dev), false};
          },
          bounds, nb);
      auto L = held_binary<T>(s, m, uss_form::log_of_sums, false, {T(2)});
      const outcome<T> whole = run_loss(L, p, refs_mode::memory, true);
      CHECK(within(got.loss, whole.loss, tol));
      CHECK(rel_diff(got.gx, whole.gx) <= 10 * tol);
      double gsum = 0;
      for (T v : got.gb) gsum += double(v);
      REQUIRE(whole.gb.size() == 1);
      CHECK(within(-gsum / double(s), whole.gb[0], 10 * tol));
    }
    {
      INFO("ss_softmax, two statistics passes, masked memory");
      const T s = T(16), m = T(0.1);
      const auto got = over_shards_by_phases(
          p, refs_mode::masked,
          [&](index_t) {
            return kernels::ss_softmax<T>{s, m};
          },
          bounds, nb);
      ss_softmax_options<T> o;
      o.s = s;
      o.m = m;
      ss_softmax_loss<T> L(o);
      const outcome<T> whole = run_loss(L, p, refs_mode::masked, true);
      const double want = reference::ss_softmax(reference_pairs(pd, refs_mode::masked), 16.0, 0.1);
      CHECK(within(got.loss, want, tol));
      CHECK(within(got.loss, whole.loss, tol));
      CHECK(rel_diff(got.gx, whole.gx) <= 10 * tol);
    }
  }
}

// ---------------------------------------------------------------------------------------
// backward()

/// One loss configuration run by backward() or forward_backward(), with its long-double
/// reference value at the same bias.
template <class T>
struct backward_case {
  std::string name;
  refs_mode mode;
  int bias;  // 0: none, 1: scalar, 2: one per reference row
  std::function<results<T>(const problem<T>&, const std::vector<T>&, bool)> run;
  std::function<double(const problem<double>&, const std::vector<double>&)> reference;
};

template <class T, class Margin>
backward_case<T> softmax_backward_case(std::string name, softmax_options<T, Margin> o,
                                       std::function<ld(ld)> target) {
  backward_case<T> c;
  c.name = std::move(name);
  c.mode = refs_mode::weights;
  c.bias = 0;
  c.run = [o](const problem<T>& p, const std::vector<T>&, bool use_backward) {
    softmax_head<T, Margin> L(o);
    return gradient_call(L, p, refs_mode::weights, use_backward);
  };
  const double s = double(o.s);
  c.reference = [s, target](const problem<double>& p, const std::vector<double>&) {
    return reference::softmax(reference_pairs(p, refs_mode::weights), s, target);
  };
  return c;
}

template <class T>
std::vector<backward_case<T>> backward_cases() {
  std::vector<backward_case<T>> v;
  auto binary = [&](std::string name, refs_mode mode, bool per_column, uss_form form, bool clamp,
                    T s, T m) {
    backward_case<T> c;
    c.name = std::move(name);
    c.mode = mode;
    c.bias = per_column ? 2 : 1;
    c.run = [=](const problem<T>& p, const std::vector<T>& bias, bool use_backward) {
      auto L = held_binary<T>(s, m, form, clamp, bias);
      return gradient_call(L, p, mode, use_backward);
    };
    c.reference = [=](const problem<double>& p, const std::vector<double>& bias) {
      return reference::binary(reference_pairs(p, mode), bias, form == uss_form::log_of_sums, clamp,
                               double(s), double(m));
    };
    v.push_back(c);
  };
  binary("uss per_pair clamp memory", refs_mode::memory, false, uss_form::per_pair, true, T(8),
         T(0.1));
  binary("uss log_of_sums in_batch", refs_mode::in_batch, false, uss_form::log_of_sums, false,
         T(12), T(0.1));
  binary("ss_bce masked", refs_mode::masked, true, uss_form::per_pair, false, T(12), T(0.1));
  binary("bce head", refs_mode::weights, true, uss_form::per_pair, true, T(8), T(0.4));
  {
    backward_case<T> c;
    c.name = "ss_softmax memory";
    c.mode = refs_mode::memory;
    c.bias = 0;
    c.run = [](const problem<T>& p, const std::vector<T>&, bool use_backward) {
      ss_softmax_options<T> o;
      o.s = T(16);
      o.m = T(0.1);
      ss_softmax_loss<T> L(o);
      return gradient_call(L, p, refs_mode::memory, use_backward);
    };
    c.reference = [](const problem<double>& p, const std::vector<double>&) {
      return reference::ss_softmax(reference_pairs(p, refs_mode::memory), 16.0, 0.1);
    };
    v.push_back(c);
  }
  v.push_back(softmax_backward_case<T>("cosface", cosface_options<T>(T(0.35), T(16)),
                                       [](ld c) { return c - ld(0.35); }));
  v.push_back(softmax_backward_case<T>(
      "arcface classic_fallback",
      arcface_options<T>(T(0.5), arcface_policy::classic_fallback, arcface_gradient::exact, T(16)),
      [](ld c) {
        const ld pi = std::acos(ld(-1)), m = ld(0.5);
        return c > std::cos(pi - m) ? std::cos(std::acos(c) + m) : c - std::sin(pi - m) * m;
      }));
  v.push_back(softmax_backward_case<T>(
      "combined margin", combined_margin_options<T>(T(0.9), T(0.3), T(0.15), T(16)),
      [](ld c) { return std::cos(ld(0.9) * std::acos(c) + ld(0.3)) - ld(0.15); }));
  return v;
}

TEMPLATE_TEST_CASE("backward() gives forward_backward's gradients, and no loss",
                   "[losses][backward][api]", float, double) {
  using T = TestType;
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(7, 9, 5, 81);
  const problem<double> pd = p.template as<double>();
  SECTION("every loss, at a fixed bias") {
    for (const auto& c : backward_cases<T>()) {
      INFO(c.name);
      const std::vector<T> bias = c.bias == 0   ? std::vector<T>{}
                                  : c.bias == 1 ? std::vector<T>{T(2)}
                                                : varied_biases<T>(p.C);
      const results<T> b = c.run(p, bias, true);
      const results<T> fb = c.run(p, bias, false);
      // The same gradients as forward_backward, to the bit; the loss is not its result.
      CHECK(std::isnan(double(b.loss)));
      CHECK(b.gx == fb.gx);
      CHECK(b.gw == fb.gw);
      CHECK(b.gb == fb.gb);
      CHECK(b.bias_used == fb.bias_used);
      CHECK(b.gb.size() == bias.size());
      // and forward_backward's loss is the reference's
      CHECK(within(fb.loss, c.reference(pd, as_double(bias)), tol));
    }
  }
  SECTION("a data-dependent bias is initialised by backward as by forward_backward") {
    binary_options<T> o;
    o.s = T(12);
    uss_loss<T> by_backward(o), by_forward_backward(o);
    const results<T> b = gradient_call(by_backward, p, refs_mode::memory, true);
    const results<T> fb = gradient_call(by_forward_backward, p, refs_mode::memory, false);
    REQUIRE(b.bias_used.size() == 1);
    CHECK(b.bias_used[0] > T(0));
    CHECK(b.bias_used == fb.bias_used);
    CHECK(by_backward.bias() == b.bias_used[0]);
    CHECK(std::isnan(double(b.loss)));
    CHECK(b.gx == fb.gx);
    CHECK(b.gb == fb.gb);
  }
  SECTION("reduction::none with an upstream gradient") {
    std::vector<T> u(static_cast<std::size_t>(p.B));
    for (index_t i = 0; i < p.B; ++i) u[static_cast<std::size_t>(i)] = T(0.5) + T(i) / T(3);
    auto co = cosface_options<T>(T(0.35), T(16));
    co.reduce = reduction::none;
    cosface_loss<T> C1(co), C2(co);
    const results<T> b = gradient_call(C1, p, refs_mode::weights, true, u);
    const results<T> fb = gradient_call(C2, p, refs_mode::weights, false, u);
    CHECK(std::isnan(double(b.loss)));
    CHECK(b.gx == fb.gx);
    CHECK(b.gw == fb.gw);
    auto S = held_binary<T>(T(12), T(0.1), uss_form::per_pair, false, varied_biases<T>(p.C));
    {
      auto o = S.opts();
      o.reduce = reduction::none;
      S.set_options(o);
    }
    auto S2 = S;
    const results<T> sb = gradient_call(S, p, refs_mode::masked, true, u);
    const results<T> sfb = gradient_call(S2, p, refs_mode::masked, false, u);
    CHECK(std::isnan(double(sb.loss)));
    CHECK(sb.gx == sfb.gx);
    CHECK(sb.gb == sfb.gb);
  }
}

/// Checks an analytic gradient against central differences of f.
template <class F>
void check_against_differences(F f, const std::vector<double>& at,
                               const std::vector<double>& analytic, const std::string& what) {
  const gradcheck_result r = gradcheck(f, at, analytic);
  INFO(what << ": " << r.message());
  CHECK(r.passed);
}

TEST_CASE("backward() gradients match finite differences of the long-double reference",
          "[losses][backward][gradcheck][api]") {
  const problem<double> p = make_problem<double>(6, 7, 5, 1002);
  for (const auto& c : backward_cases<double>()) {
    const std::vector<double> bias = c.bias == 0   ? std::vector<double>{}
                                     : c.bias == 1 ? std::vector<double>{2.0}
                                                   : varied_biases<double>(p.C);
    const results<double> g = c.run(p, bias, true);
    check_against_differences(
        [&](std::span<const double> v) {
          problem<double> q = p;
          q.x.assign(v.begin(), v.end());
          return c.reference(q, bias);
        },
        p.x, g.gx, c.name + " d/dx");
    if (c.mode == refs_mode::weights) {
      check_against_differences(
          [&](std::span<const double> v) {
            problem<double> q = p;
            q.w.assign(v.begin(), v.end());
            return c.reference(q, bias);
          },
          p.w, g.gw, c.name + " d/dW");
    }
    if (c.bias != 0) {
      check_against_differences(
          [&](std::span<const double> v) {
            return c.reference(p, std::vector<double>(v.begin(), v.end()));
          },
          bias, g.gb, c.name + " d/db");
    }
  }
}

/// sum_i u_i l_i, with l_i the reference loss of anchor i alone (class references).
template <class F>
double weighted_anchor_losses(const problem<double>& p, const std::vector<double>& u, F loss_of) {
  double acc = 0.0;
  for (index_t i = 0; i < p.B; ++i) {
    problem<double> one = p;
    one.B = 1;
    one.x.assign(p.x.begin() + i * p.D, p.x.begin() + (i + 1) * p.D);
    one.y = {p.y[static_cast<std::size_t>(i)]};
    acc += u[static_cast<std::size_t>(i)] * loss_of(one);
  }
  return acc;
}

TEST_CASE("backward() with reduction::none: the gradient of sum_i u_i l_i by finite differences",
          "[losses][backward][gradcheck][api]") {
  const problem<double> p = make_problem<double>(6, 7, 5, 1003);
  std::vector<double> u(static_cast<std::size_t>(p.B));
  for (index_t i = 0; i < p.B; ++i) u[static_cast<std::size_t>(i)] = 0.25 + 0.5 * double(i);
  {
    auto o = cosface_options<double>(0.35, 16.0);
    o.reduce = reduction::none;
    cosface_loss<double> L(o);
    const results<double> g = gradient_call(L, p, refs_mode::weights, true, u);
    auto cosface = [](const problem<double>& q) {
      return reference::softmax(reference_pairs(q, refs_mode::weights), 16.0,
                                [](ld c) { return c - ld(0.35); });
    };
    // forward_backward's loss under none: the sum of the per-anchor losses.
    const results<double> fb = gradient_call(L, p, refs_mode::weights, false, u);
    CHECK(within(fb.loss, weighted_anchor_losses(p, std::vector<double>(u.size(), 1.0), cosface),
                 1e-12));
    check_against_differences(
        [&](std::span<const double> v) {
          problem<double> q = p;
          q.x.assign(v.begin(), v.end());
          return weighted_anchor_losses(q, u, cosface);
        },
        p.x, g.gx, "cosface, none, d/dx");
    check_against_differences(
        [&](std::span<const double> v) {
          problem<double> q = p;
          q.w.assign(v.begin(), v.end());
          return weighted_anchor_losses(q, u, cosface);
        },
        p.w, g.gw, "cosface, none, d/dW");
  }
  {
    const std::vector<double> bias = varied_biases<double>(p.C);
    auto L = held_binary<double>(12.0, 0.1, uss_form::per_pair, false, bias);
    {
      auto o = L.opts();
      o.reduce = reduction::none;
      L.set_options(o);
    }
    const results<double> g = gradient_call(L, p, refs_mode::masked, true, u);
    auto ss_bce_at = [](const std::vector<double>& b) {
      return [b](const problem<double>& q) {
        return reference::binary(reference_pairs(q, refs_mode::masked), b, false, false, 12.0, 0.1);
      };
    };
    check_against_differences(
        [&](std::span<const double> v) {
          problem<double> q = p;
          q.x.assign(v.begin(), v.end());
          return weighted_anchor_losses(q, u, ss_bce_at(bias));
        },
        p.x, g.gx, "ss_bce, none, d/dx");
    check_against_differences(
        [&](std::span<const double> v) {
          return weighted_anchor_losses(p, u, ss_bce_at(std::vector<double>(v.begin(), v.end())));
        },
        bias, g.gb, "ss_bce, none, d/db");
  }
}

// ---------------------------------------------------------------------------------------
// The embedded loss with other parts

/// The whole embedded schedule with a given pair of parts: a warm-up step (the head alone),
/// then a step with lambda times the sample-to-sample part over the memory the warm-up
/// wrote. Expected: each part evaluated on its own by its loss calls (value, d/dx, d/dW,
/// d/db), and the value from the long-double references of both parts.
template <class T, class S2C, class S2S>
void check_embedded_pair(const S2C& head, const S2S& s2s, T lambda,
                         const std::function<double(const problem<double>&)>& head_reference,
                         const std::function<double(const problem<double>&,
                                                    const std::vector<double>&)>& s2s_reference) {
  const double tol = tolerance<T>();
  const auto& pol = policy();
  const problem<T> p1 = make_problem<T>(8, 6, 5, 91);
  problem<T> p2 = make_problem<T>(8, 6, 5, 92);
  p2.w = p1.w;  // one set of class weights for both steps
  const index_t B = p1.B, C = p1.C, D = p1.D;
  auto w = upload(p1.w);
  const matrix_view<const T> wv(backends::data_ptr(w), C, D);
  embedded_options<T> eo;
  eo.lambda = lambda;
  eo.warmup_epochs = 1;
  embedded_loss<T, S2C, S2S> E(head, s2s, eo);
  losses::feature_memory<T, policy_type> mem(C, D, {}, pol);
  auto step = [&](const problem<T>& p, index_t epoch) {
    const device_problem<T> d(p);
    auto gx = backends::make_buffer<T>(pol, B * D);
    auto gw = backends::make_buffer<T>(pol, C * D);
    const embedded_result<T> r = E.step(pol, d.input(), d.labels(), wv,
                                        gradients<T>(matrix_view<T>(backends::data_ptr(gx), B, D),
                                                     matrix_view<T>(backends::data_ptr(gw), C, D)),
                                        mem, epoch);
    results<T> out;
    out.loss = r.loss;
    out.s2c_loss = r.s2c_loss;
    out.s2s_loss = r.s2s_loss;
    out.gx = download<T>(backends::data_ptr(gx), B * D);
    out.gw = download<T>(backends::data_ptr(gw), C * D);
    out.gb = r.grad_bias;
    out.bias_used = r.bias_used;
    return out;
  };

  // Warm-up: the head alone.
  const results<T> r0 = step(p1, 0);
  S2C h0 = head;
  const outcome<T> head0 = run_loss(h0, p1, refs_mode::weights, true);
  CHECK(within(r0.loss, head0.loss, tol));
  CHECK(r0.s2c_loss == r0.loss);  // the parts: the head's loss, and 0 for the warm-up
  CHECK(r0.s2s_loss == T(0));
  CHECK(rel_diff(r0.gx, head0.gx) <= tol);
  CHECK(rel_diff(r0.gw, head0.gw) <= tol);
  CHECK(r0.gb.empty());

  // Epoch 1: L = L_s2c + lambda L_s2s over the memory as it was before the step.
  const auto before = mem;
  const results<T> r1 = step(p2, 1);
  S2C h1 = head;
  const outcome<T> head1 = run_loss(h1, p2, refs_mode::weights, true);
  S2S part = E.sample_to_sample();  // holds the bias the step used (initialised from the data)
  std::vector<double> part_bias;
  if constexpr (requires { part.biases(); }) {
    {
      auto o = part.opts();
      o.init = bias_init::fixed;
      part.set_options(o);
    }
    part_bias = as_double(part.biases());
    CHECK(r1.bias_used == part.biases());
  }
  problem<T> pm = p2;
  pm.w = download<T>(before.rows().data, C * D);
  pm.valid = download<unsigned char>(before.valid(), C);
  const outcome<T> s2s1 = run_loss(part, pm, refs_mode::masked, true);

  CHECK(within(r1.loss, double(head1.loss) + double(lambda) * double(s2s1.loss), tol));
  // The two parts, each against its loss alone, and their sum.
  CHECK(within(r1.s2c_loss, double(head1.loss), tol));
  CHECK(within(r1.s2s_loss, double(lambda) * double(s2s1.loss), tol));
  CHECK(within(r1.loss, double(r1.s2c_loss) + double(r1.s2s_loss), tol));
  std::vector<double> gx_want(head1.gx.size());
  for (std::size_t k = 0; k < gx_want.size(); ++k)
    gx_want[k] = double(head1.gx[k]) + double(lambda) * double(s2s1.gx[k]);
  CHECK(rel_diff(r1.gx, gx_want) <= 10 * tol);
  CHECK(rel_diff(r1.gw, head1.gw) <= tol);
  std::vector<double> gb_want(s2s1.gb.size());
  for (std::size_t k = 0; k < gb_want.size(); ++k) gb_want[k] = double(lambda) * s2s1.gb[k];
  CHECK(r1.gb.size() == gb_want.size());
  CHECK(rel_diff(r1.gb, gb_want) <= 10 * tol);

  const double want = head_reference(p2.template as<double>()) +
                      double(lambda) * s2s_reference(pm.template as<double>(), part_bias);
  CHECK(within(r1.loss, want, tol));
  // forward() on the memory as it was: the same value
  auto again = before;
  const device_problem<T> d2(p2);
  CHECK(within(E.forward(pol, d2.input(), d2.labels(), wv, again, 1), want, tol));
  // With gradients::loss keeping L in the policy's memory, nothing of the loss comes back:
  // the loss and its parts are NaN, and the kept value is the loss.
  auto kept_mem = before;
  auto gx3 = backends::make_buffer<T>(pol, B * D);
  auto gw3 = backends::make_buffer<T>(pol, C * D);
  auto l3 = backends::make_buffer<T>(pol, 1);
  const embedded_result<T> r3 =
      E.step(pol, d2.input(), d2.labels(), wv,
             gradients<T>(matrix_view<T>(backends::data_ptr(gx3), B, D),
                          matrix_view<T>(backends::data_ptr(gw3), C, D), backends::data_ptr(l3)),
             kept_mem, 1);
  CHECK(std::isnan(double(r3.loss)));
  CHECK(std::isnan(double(r3.s2c_loss)));
  CHECK(std::isnan(double(r3.s2s_loss)));
  CHECK(within(download<T>(backends::data_ptr(l3), 1)[0], want, tol));
}

TEMPLATE_TEST_CASE("embedded loss: other pairs of parts give L_s2c + lambda L_s2s",
                   "[losses][embedded][api]", float, double) {
  using T = TestType;
  using pd = const problem<double>&;
  using bias_d = const std::vector<double>&;
  auto masked = [](pd q) { return reference_pairs(q, refs_mode::masked); };
  auto weights = [](pd q) { return reference_pairs(q, refs_mode::weights); };
  SECTION("ArcFace + SS-BCE") {
    binary_options<T> o;  // data-dependent initialisation of the per-identity biases
    o.s = T(12);
    o.clamp = false;
    const auto arc = arcface_options<T>(T(0.5), arcface_policy::classic_fallback,
                                        arcface_gradient::exact, T(16));
    check_embedded_pair<T>(
        arcface_loss<T>(arc), ss_bce_loss<T>(6, o), T(0.5),
        [&](pd q) {
          return reference::softmax(weights(q), 16.0, [](ld c) {
            const ld pi = std::acos(ld(-1)), m = ld(0.5);
            return c > std::cos(pi - m) ? std::cos(std::acos(c) + m) : c - std::sin(pi - m) * m;
          });
        },
        [&](pd q, bias_d b) { return reference::binary(masked(q), b, false, false, 12.0, 0.1); });
  }
  SECTION("CosFace + SS-softmax") {
    ss_softmax_options<T> o;
    o.s = T(16);
    o.m = T(0.1);
    check_embedded_pair<T>(
        cosface_loss<T>(cosface_options<T>(T(0.35), T(16))), ss_softmax_loss<T>(o), T(1),
        [&](pd q) {
          return reference::softmax(weights(q), 16.0, [](ld c) { return c - ld(0.35); });
        },
        [&](pd q, bias_d) { return reference::ss_softmax(masked(q), 16.0, 0.1); });
  }
  SECTION("combined margin + USS log-of-sums") {
    binary_options<T> o;
    o.s = T(12);
    o.form = uss_form::log_of_sums;
    o.init = bias_init::fixed;
    uss_loss<T> u(o);
    u.set_bias(T(2));
    check_embedded_pair<T>(
        combined_margin_loss<T>(combined_margin_options<T>(T(0.9), T(0.3), T(0.15), T(16))), u,
        T(0.7),
        [&](pd q) {
          return reference::softmax(weights(q), 16.0, [](ld c) {
            return std::cos(ld(0.9) * std::acos(c) + ld(0.3)) - ld(0.15);
          });
        },
        [&](pd q, bias_d b) { return reference::binary(masked(q), b, true, false, 12.0, 0.1); });
  }
  SECTION("BCE head + USS, both clamped") {
    binary_options<T> ho = head_options<T>();
    ho.s = T(8);
    binary_options<T> uo;  // data-dependent initialisation
    uo.s = T(8);
    const std::vector<double> head_bias(6, std::log(60.0));  // log(10 C), as the head starts
    check_embedded_pair<T>(
        bce_head<T>(6, ho), uss_loss<T>(uo), T(0.3),
        [&](pd q) { return reference::binary(weights(q), head_bias, false, true, 8.0, 0.4); },
        [&](pd q, bias_d b) { return reference::binary(masked(q), b, false, true, 8.0, 0.1); });
  }
  SECTION("UCE head + SS-softmax") {
    binary_options<T> ho = head_options<T>();
    ho.s = T(8);
    ss_softmax_options<T> o;
    o.s = T(12);
    o.m = T(0.2);
    check_embedded_pair<T>(
        uce_head<T>(6, ho), ss_softmax_loss<T>(o), T(2),
        [&](pd q) {
          return reference::binary(weights(q), {std::log(60.0)}, false, true, 8.0, 0.4);
        },
        [&](pd q, bias_d) { return reference::ss_softmax(masked(q), 12.0, 0.2); });
  }
}

// ---------------------------------------------------------------------------------------
// Strided, padded and column-major views

/// How a rows x cols matrix is laid out in memory.
enum class storage { contiguous, padded, column_major, column_major_padded, interleaved };
const storage every_storage[] = {storage::contiguous, storage::padded, storage::column_major,
                                 storage::column_major_padded, storage::interleaved};

inline const char* storage_name(storage s) {
  switch (s) {
    case storage::contiguous:
      return "contiguous";
    case storage::padded:
      return "padded rows";
    case storage::column_major:
      return "column-major";
    case storage::column_major_padded:
      return "padded column-major";
    case storage::interleaved:
      return "interleaved (no unit stride)";
  }
  return "?";
}

struct placement {
  index_t row_stride, col_stride, size;
};

inline placement place(storage s, index_t rows, index_t cols) {
  switch (s) {
    case storage::contiguous:
      break;
    case storage::padded:
      return {cols + 3, 1, rows * (cols + 3)};
    case storage::column_major:
      return {1, rows, rows * cols};
    case storage::column_major_padded:
      return {1, rows + 2, (rows + 2) * cols};
    case storage::interleaved:
      return {2 * cols, 2, 2 * rows * cols};
  }
  return {cols, 1, rows * cols};
}

/// A row-major matrix laid out as `s`, every other element `fill`.
template <class T>
std::vector<T> laid_out(const std::vector<T>& row_major, index_t rows, index_t cols, storage s,
                        T fill) {
  const placement pl = place(s, rows, cols);
  std::vector<T> out(static_cast<std::size_t>(pl.size), fill);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      out[static_cast<std::size_t>(i * pl.row_stride + j * pl.col_stride)] =
          row_major[static_cast<std::size_t>(i * cols + j)];
  return out;
}

/// The matrix of a layout back in row-major order; `untouched` counts the elements outside
/// the matrix that still hold `fill`.
template <class T>
std::vector<T> gathered(const std::vector<T>& v, index_t rows, index_t cols, storage s, T fill,
                        index_t* untouched) {
  const placement pl = place(s, rows, cols);
  std::vector<bool> inside(v.size(), false);
  std::vector<T> out(static_cast<std::size_t>(rows * cols));
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const auto k = static_cast<std::size_t>(i * pl.row_stride + j * pl.col_stride);
      inside[k] = true;
      out[static_cast<std::size_t>(i * cols + j)] = v[k];
    }
  *untouched = 0;
  for (std::size_t k = 0; k < v.size(); ++k)
    if (!inside[k] && v[k] == fill) ++*untouched;
  return out;
}

/// forward_backward (and forward) with the input, the references and the gradients laid out
/// as sx, sr and sg. What lies between the elements of the inputs is NaN (a read of it would
/// poison the results); around the gradients' elements a marker that must stay.
template <class T, class Loss>
outcome<T> run_laid_out(Loss L, const problem<T>& p, refs_mode mode, storage sx, storage sr,
                        storage sg) {
  const auto& pol = policy();
  const T nan = std::numeric_limits<T>::quiet_NaN(), mark = T(-777);
  const index_t B = p.B, C = p.C, D = p.D;
  const bool weights = mode == refs_mode::weights;
  const placement px = place(sx, B, D), pr = place(sr, C, D), pgx = place(sg, B, D),
                  pgw = place(sg, C, D);
  auto x = upload(laid_out(p.x, B, D, sx, nan));
  auto w = upload(laid_out(p.w, C, D, sr, nan));
  auto y = upload(p.y);
  auto valid = upload(p.valid);
  const matrix_view<const T> xv(backends::data_ptr(x), B, D, px.row_stride, px.col_stride);
  const matrix_view<const T> wv(backends::data_ptr(w), C, D, pr.row_stride, pr.col_stride);
  const vector_view<const index_t> yv(backends::data_ptr(y), B);
  const references<T> refs = mode == refs_mode::weights  ? references<T>::weights(wv)
                             : mode == refs_mode::memory ? references<T>::memory(wv)
                             : mode == refs_mode::masked
                                 ? references<T>::memory(wv, backends::data_ptr(valid))
                                 : references<T>::in_batch();
  auto gx = upload(std::vector<T>(static_cast<std::size_t>(pgx.size), mark));
  auto gw = upload(std::vector<T>(static_cast<std::size_t>(weights ? pgw.size : 0), mark));
  const gradients<T> g(
      matrix_view<T>(backends::data_ptr(gx), B, D, pgx.row_stride, pgx.col_stride),
      weights ? matrix_view<T>(backends::data_ptr(gw), C, D, pgw.row_stride, pgw.col_stride)
              : matrix_view<T>{});
  const loss_result<T> r = L.forward_backward(pol, xv, yv, refs, g);
  outcome<T> out;
  out.loss = r.loss;
  out.gb = r.grad_bias;
  CHECK(within(L.forward(pol, xv, yv, refs), r.loss, tolerance<T>()));
  index_t untouched = 0;
  out.gx = gathered(download(gx), B, D, sg, mark, &untouched);
  CHECK(untouched == pgx.size - B * D);
  if (weights) {
    out.gw = gathered(download(gw), C, D, sg, mark, &untouched);
    CHECK(untouched == pgw.size - C * D);
  }
  return out;
}

TEMPLATE_TEST_CASE("strided, padded and column-major views give the contiguous results",
                   "[losses][layout][api]", float, double) {
  using T = TestType;
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(7, 9, 5, 95);
  const problem<double> pd = p.template as<double>();
  const std::vector<T> vb = varied_biases<T>(p.C);
  auto check = [&](const char* name, auto make_loss, refs_mode mode, double want) {
    INFO(name);
    const outcome<T> base = run_laid_out(make_loss(), p, mode, storage::contiguous,
                                         storage::contiguous, storage::contiguous);
    CHECK(within(base.loss, want, tol));
    // Each layout in each role: input, references, gradients.
    for (std::size_t k = 0; k < std::size(every_storage); ++k) {
      const storage sx = every_storage[k], sr = every_storage[(k + 1) % 5],
                    sg = every_storage[(k + 2) % 5];
      INFO("input " << storage_name(sx) << ", references " << storage_name(sr) << ", gradients "
                    << storage_name(sg));
      const outcome<T> got = run_laid_out(make_loss(), p, mode, sx, sr, sg);
      CHECK(within(got.loss, base.loss, tol));
      CHECK(rel_diff(got.gx, base.gx) <= 10 * tol);
      CHECK(rel_diff(got.gw, base.gw) <= 10 * tol);
      CHECK(rel_diff(got.gb, base.gb) <= 10 * tol);
    }
  };
  check(
      "cosface", [] { return cosface_loss<T>(cosface_options<T>(T(0.35), T(16))); },
      refs_mode::weights,
      reference::softmax(reference_pairs(pd, refs_mode::weights), 16.0,
                         [](ld c) { return c - ld(0.35); }));
  check(
      "arcface easy margin",
      [] {
        return arcface_loss<T>(arcface_options<T>(T(0.5), arcface_policy::easy_margin,
                                                  arcface_gradient::exact, T(16)));
      },
      refs_mode::weights,
      reference::softmax(reference_pairs(pd, refs_mode::weights), 16.0,
                         [](ld c) { return c > 0 ? std::cos(std::acos(c) + ld(0.5)) : c; }));
  check(
      "bce head", [&] { return held_binary<T>(T(8), T(0.4), uss_form::per_pair, true, vb); },
      refs_mode::weights,
      reference::binary(reference_pairs(pd, refs_mode::weights), as_double(vb), false, true, 8.0,
                        0.4));
  check(
      "uss per_pair masked",
      [] { return held_binary<T>(T(12), T(0.1), uss_form::per_pair, false, {T(3)}); },
      refs_mode::masked,
      reference::binary(reference_pairs(pd, refs_mode::masked), {3.0}, false, false, 12.0, 0.1));
  check(
      "ss_bce memory", [&] { return held_binary<T>(T(12), T(0.1), uss_form::per_pair, false, vb); },
      refs_mode::memory,
      reference::binary(reference_pairs(pd, refs_mode::memory), as_double(vb), false, false, 12.0,
                        0.1));
  check(
      "uss log_of_sums in_batch",
      [] { return held_binary<T>(T(12), T(0.1), uss_form::log_of_sums, false, {T(2)}); },
      refs_mode::in_batch,
      reference::binary(reference_pairs(pd, refs_mode::in_batch), {2.0}, true, false, 12.0, 0.1));
  check(
      "ss_softmax masked",
      [] {
        ss_softmax_options<T> o;
        o.s = T(16);
        o.m = T(0.1);
        return ss_softmax_loss<T>(o);
      },
      refs_mode::masked, reference::ss_softmax(reference_pairs(pd, refs_mode::masked), 16.0, 0.1));
}

TEMPLATE_TEST_CASE("embedded loss: strided and column-major views give the contiguous steps",
                   "[losses][embedded][layout][api]", float, double) {
  using T = TestType;
  const double tol = tolerance<T>();
  const auto& pol = policy();
  const problem<T> p1 = make_problem<T>(8, 6, 5, 97);
  problem<T> p2 = make_problem<T>(8, 6, 5, 98);
  p2.w = p1.w;
  const index_t B = p1.B, C = p1.C, D = p1.D;
  const T nan = std::numeric_limits<T>::quiet_NaN(), mark = T(-777);

  // Two steps (warm-up, then with USS) with the input, the weights and the gradients laid out
  // as given; the results and the memory after each step, on the host.
  auto trace = [&](storage sx, storage sw, storage sg) {
    binary_options<T> uo;
    uo.s = T(12);
    uo.init = bias_init::fixed;
    uss_loss<T> u(uo);
    u.set_bias(T(2));
    embedded_options<T> eo;
    eo.lambda = T(0.5);
    embedded_loss<T> E(cosface_loss<T>(cosface_options<T>(T(0.35), T(16))), u, eo);
    losses::feature_memory<T, policy_type> mem(C, D, {}, pol);
    const placement pw = place(sw, C, D), pgx = place(sg, B, D), pgw = place(sg, C, D);
    auto w = upload(laid_out(p1.w, C, D, sw, nan));
    const matrix_view<const T> wv(backends::data_ptr(w), C, D, pw.row_stride, pw.col_stride);
    std::vector<outcome<T>> steps;
    std::vector<std::vector<T>> memories;
    index_t epoch = 0;
    const problem<T>* batches[] = {&p1, &p2};
    for (const problem<T>* p : batches) {
      const placement px = place(sx, B, D);
      auto x = upload(laid_out(p->x, B, D, sx, nan));
      auto y = upload(p->y);
      auto gx = upload(std::vector<T>(static_cast<std::size_t>(pgx.size), mark));
      auto gw = upload(std::vector<T>(static_cast<std::size_t>(pgw.size), mark));
      const loss_result<T> r = E.step(
          pol, matrix_view<const T>(backends::data_ptr(x), B, D, px.row_stride, px.col_stride),
          vector_view<const index_t>(backends::data_ptr(y), B), wv,
          gradients<T>(
              matrix_view<T>(backends::data_ptr(gx), B, D, pgx.row_stride, pgx.col_stride),
              matrix_view<T>(backends::data_ptr(gw), C, D, pgw.row_stride, pgw.col_stride)),
          mem, epoch++);
      outcome<T> o;
      o.loss = r.loss;
      o.gb = r.grad_bias;
      index_t untouched = 0;
      o.gx = gathered(download(gx), B, D, sg, mark, &untouched);
      CHECK(untouched == pgx.size - B * D);
      o.gw = gathered(download(gw), C, D, sg, mark, &untouched);
      CHECK(untouched == pgw.size - C * D);
      steps.push_back(o);
      memories.push_back(download<T>(mem.rows().data, C * D));
    }
    return std::make_pair(steps, memories);
  };
  const auto base = trace(storage::contiguous, storage::contiguous, storage::contiguous);
  for (std::size_t k = 1; k < std::size(every_storage); ++k) {
    const storage sx = every_storage[k], sw = every_storage[(k + 1) % 5],
                  sg = every_storage[(k + 2) % 5];
    INFO("input " << storage_name(sx) << ", weights " << storage_name(sw) << ", gradients "
                  << storage_name(sg));
    const auto got = trace(sx, sw, sg);
    for (std::size_t s = 0; s < 2; ++s) {
      INFO("step " << s);
      CHECK(within(got.first[s].loss, base.first[s].loss, tol));
      CHECK(rel_diff(got.first[s].gx, base.first[s].gx) <= 10 * tol);
      CHECK(rel_diff(got.first[s].gw, base.first[s].gw) <= 10 * tol);
      CHECK(rel_diff(got.first[s].gb, base.first[s].gb) <= 10 * tol);
      // The memory holds the raw features whatever their layout was: exactly the same.
      CHECK(got.second[s] == base.second[s]);
    }
  }
}

TEMPLATE_TEST_CASE("bias_init::data_dependent_once initialises a bias once, then leaves it",
                   "[losses][bias][api]", float, double) {
  using T = TestType;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(8, 6, 5, 71);
  const device_problem<T> d(p);
  const auto refs = references<T>::in_batch();
  auto g = backends::make_buffer<T>(pol, p.B * p.D);
  // The bias a forward used.
  auto used = [&](auto& L) {
    return L
        .forward_backward(pol, d.input(), d.labels(), refs,
                          gradients<T>(matrix_view<T>(backends::data_ptr(g), p.B, p.D)))
        .bias_used;
  };
  binary_options<T> once, every;
  once.s = every.s = T(12);
  once.init = bias_init::data_dependent_once;
  every.init = bias_init::data_dependent;
  uss_loss<T> A(once), E(every);  // USS starts at b = 0: both initialise on the first call
  const std::vector<T> a0 = used(A), e0 = used(E);
  REQUIRE(a0.size() == 1);
  CHECK(a0[0] > T(0));
  CHECK(a0 == e0);  // the same value from the same data
  // Training pushes b below 0: the official rule initialises again, the once-only one not.
  A.set_bias(T(-0.25));
  E.set_bias(T(-0.25));
  CHECK(used(A) == std::vector<T>{T(-0.25)});
  CHECK(A.bias() == T(-0.25));
  CHECK(used(E) == e0);
  // SS-BCE (one bias per identity, initialised when their mean is <= 0), memory references.
  const auto mem = references<T>::memory(d.rows());
  auto used_mem = [&](auto& L) {
    return L
        .forward_backward(pol, d.input(), d.labels(), mem,
                          gradients<T>(matrix_view<T>(backends::data_ptr(g), p.B, p.D)))
        .bias_used;
  };
  ss_bce_loss<T> S(p.C, once);
  const std::vector<T> s0 = used_mem(S);
  CHECK(s0[0] > T(0));
  const std::vector<T> negative(static_cast<std::size_t>(p.C), T(-1));
  S.set_biases(negative);
  CHECK(used_mem(S) == negative);
}

TEMPLATE_TEST_CASE("bind_bias: the bias lives in the caller's memory, read and written there",
                   "[losses][bias][api]", float, double) {
  using T = TestType;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(8, 6, 5, 73);
  const device_problem<T> d(p);
  const auto refs = references<T>::in_batch();
  auto g = backends::make_buffer<T>(pol, p.B * p.D);
  auto call = [&](auto& L, const references<T>& r) {
    return L.forward_backward(pol, d.input(), d.labels(), r,
                              gradients<T>(matrix_view<T>(backends::data_ptr(g), p.B, p.D)));
  };
  binary_options<T> o;
  o.s = T(12);
  // The data-dependent initialisation lands in the caller's b; an unbound twin computes it.
  uss_loss<T> U(o), twin(o);
  T b = T(0);
  U.bind_bias(make_vector_view(&b, 1));
  CHECK(U.bias_bound());
  const auto r0 = call(U, refs), t0 = call(twin, refs);
  CHECK(b == twin.bias());
  CHECK(b > T(0));
  CHECK(r0.loss == t0.loss);
  CHECK(r0.bias_used == t0.bias_used);
  // An optimiser step on b alone (no set_bias) is what the next call uses: the twin is told
  // through set_bias and must agree bit for bit.
  b -= T(0.5) * r0.grad_bias[0];
  twin.set_bias(b);
  const auto r1 = call(U, refs), t1 = call(twin, refs);
  CHECK(r1.bias_used == std::vector<T>{b});
  CHECK(r1.loss == t1.loss);
  CHECK(r1.grad_bias == t1.grad_bias);
  CHECK(U.bias() == b);
  CHECK(U.threshold() == b / o.s);
  // set_bias writes through to the caller's memory.
  U.set_bias(T(3));
  CHECK(b == T(3));
  // A step that made b NaN is refused by name, before any work.
  b = std::numeric_limits<T>::quiet_NaN();
  CHECK(thrown_argument([&] { call(U, refs); }) == "bias");
  b = T(2);
  // Unbinding keeps the last value; the caller's memory is no longer written.
  U.bind_bias({});
  CHECK_FALSE(U.bias_bound());
  CHECK(U.bias() == T(2));
  U.set_bias(T(5));
  CHECK(b == T(2));
  // A wrong size, null data or a non-finite value are refused when binding.
  T two[2] = {T(1), T(1)};
  CHECK(thrown_argument([&] { U.bind_bias(make_vector_view(two, 2)); }) == "bias");
  CHECK(thrown_argument([&] { U.bind_bias(vector_view<T>(nullptr, 1)); }) == "bias");
  T inf = std::numeric_limits<T>::infinity();
  CHECK(thrown_argument([&] { U.bind_bias(make_vector_view(&inf, 1)); }) == "bias");

  // One bias per identity (SS-BCE), bound through a strided view: the per-class biases the
  // call uses and the initialisation it adds come from and go to every other element.
  const auto mem = references<T>::memory(d.rows());
  ss_bce_loss<T> S(p.C, o), S_twin(p.C, o);
  std::vector<T> interleaved(static_cast<std::size_t>(2 * p.C), T(-7));
  for (index_t k = 0; k < p.C; ++k) interleaved[static_cast<std::size_t>(2 * k)] = T(0);
  S.bind_bias(vector_view<T>(interleaved.data(), p.C, 2));
  const auto s0 = call(S, mem), st0 = call(S_twin, mem);
  CHECK(s0.loss == st0.loss);
  CHECK(s0.grad_bias == st0.grad_bias);
  for (index_t k = 0; k < p.C; ++k) {
    CHECK(interleaved[static_cast<std::size_t>(2 * k)] == S_twin.biases()[std::size_t(k)]);
    CHECK(interleaved[static_cast<std::size_t>(2 * k + 1)] == T(-7));  // untouched
  }
}

namespace {
// A kernel without its element term: not a loss_kernel.
template <class T>
struct no_element {
  using stats = no_row_stats;
  static constexpr int stat_passes = 0;
  static constexpr bool has_bias = false;
  void accumulate(int, stats&, T, pair_kind, index_t) const {}
  void finish_pass(int, stats&) const {}
  T row_loss(const stats&) const { return T(0); }
};
// A kernel whose statistics do not merge: not a loss_kernel either.
struct unmergeable {
  void count(index_t, index_t) {}
  unmergeable carried() const { return {}; }
};
template <class T>
struct no_merge : no_element<T> {
  using stats = unmergeable;
  void accumulate(int, stats&, T, pair_kind, index_t) const {}
  void finish_pass(int, stats&) const {}
  T row_loss(const stats&) const { return T(0); }
  element_value<T> element(T, pair_kind, index_t, const stats&) const { return {T(0), T(0)}; }
};
}  // namespace

TEMPLATE_TEST_CASE("loss_kernel: every kernel models the driver's contract", "[losses][api]", float,
                   double) {
  using T = TestType;
  STATIC_REQUIRE(kernels::loss_kernel<kernels::per_pair<T>, T>);
  STATIC_REQUIRE(kernels::loss_kernel<kernels::log_of_sums<T>, T>);
  STATIC_REQUIRE(kernels::loss_kernel<kernels::ss_softmax<T>, T>);
  STATIC_REQUIRE(kernels::loss_kernel<kernels::negative_lse<T>, T>);
  STATIC_REQUIRE(kernels::loss_kernel<kernels::softmax<T, cosface_margin<T>>, T>);
  STATIC_REQUIRE(kernels::loss_kernel<kernels::softmax<T, arcface_margin<T>>, T>);
  STATIC_REQUIRE_FALSE(kernels::loss_kernel<no_element<T>, T>);
  STATIC_REQUIRE_FALSE(kernels::loss_kernel<no_merge<T>, T>);
  STATIC_REQUIRE_FALSE(kernels::loss_kernel<int, T>);
}

TEMPLATE_TEST_CASE("feature memory: the normalised mirror is the loss calls' normalisation",
                   "[losses][memory][api]", float, double) {
  using T = TestType;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(8, 12, 5, 83);
  const problem<T> q = make_problem<T>(8, 12, 5, 84);  // a second batch over the same rows
  const index_t C = p.C, D = p.D;
  const device_problem<T> d(p), e(q);
  for (const T momentum : {T(0), T(0.9)}) {
    INFO("momentum " << momentum);
    memory_options<T> o;
    o.momentum = momentum;
    losses::feature_memory<T, policy_type> m(C, D, o, pol);
    memory_options<T> plain_o = o;
    plain_o.keep_normalized = false;
    losses::feature_memory<T, policy_type> plain(C, D, plain_o, pol);
    CHECK(plain.normalized_rows().data == nullptr);
    CHECK(plain.as_references().unit_rows.data == nullptr);
    m.update(d.input(), d.labels());
    m.update(e.input(), e.labels());  // blends rows written twice (momentum)
    plain.update(d.input(), d.labels());
    plain.update(e.input(), e.labels());
    // The mirror: each row normalised as F.normalize does, x / max(||x||, 1e-5), zero for
    // unwritten rows (to a few ulp: a device may contract the sum of squares into FMAs).
    const std::vector<T> rows = download<T>(m.rows().data, C * D);
    const std::vector<T> unit = download<T>(m.normalized_rows().data, C * D);
    for (index_t c = 0; c < C; ++c) {
      T ss = T(0);
      for (index_t k = 0; k < D; ++k)
        ss += rows[std::size_t(c * D + k)] * rows[std::size_t(c * D + k)];
      const T n = std::sqrt(ss);
      const T inv = T(1) / (n > T(1e-5) ? n : T(1e-5));
      for (index_t k = 0; k < D; ++k) {
        const T want = rows[std::size_t(c * D + k)] * inv;
        CHECK(std::fabs(unit[std::size_t(c * D + k)] - want) <=
              4 * std::numeric_limits<T>::epsilon() * std::fabs(want));
      }
    }
    // The losses through the mirror (no normalisation, no scan of the rows) give the bits of
    // the losses that normalise and scan the same rows, with several tiles.
    binary_options<T> bo;
    bo.s = T(12);
    bo.init = bias_init::fixed;
    bo.tile_columns = 5;
    uss_loss<T> a(bo), b(bo);
    a.set_bias(T(2));
    b.set_bias(T(2));
    const references<T> mirrored = m.as_references();
    const references<T> raw = references<T>::memory(m.rows(), m.valid());
    CHECK(mirrored.unit_rows.data != nullptr);
    CHECK(mirrored.rows_checked);
    CHECK(raw.unit_rows.data == nullptr);
    // Other rows (a copy, a sample) do not inherit the mirror or the owner's check.
    const references<T> other = mirrored.with_rows(raw.rows.row_block(0, C - 1));
    CHECK(other.rows.rows == C - 1);
    CHECK(other.unit_rows.data == nullptr);
    CHECK(!other.rows_checked);
    CHECK(other.valid == mirrored.valid);
    CHECK(a.forward(pol, d.input(), d.labels(), mirrored) ==
          b.forward(pol, d.input(), d.labels(), raw));
    ss_softmax_options<T> so;
    so.tile_columns = 4;
    ss_softmax_loss<T> sa(so), sb(so);
    auto gx1 = backends::make_buffer<T>(pol, p.B * D), gx2 = backends::make_buffer<T>(pol, p.B * D);
    const T l1 = sa.forward_backward(pol, d.input(), d.labels(), mirrored,
                                     gradients<T>(matrix_view<T>(backends::data_ptr(gx1), p.B, D)))
                     .loss;
    const T l2 = sb.forward_backward(pol, d.input(), d.labels(), raw,
                                     gradients<T>(matrix_view<T>(backends::data_ptr(gx2), p.B, D)))
                     .loss;
    CHECK(l1 == l2);
    CHECK(download<T>(backends::data_ptr(gx1), p.B * D) ==
          download<T>(backends::data_ptr(gx2), p.B * D));
    // A checkpoint resumes with its mirror.
    std::vector<T> saved(static_cast<std::size_t>(C * D));
    std::vector<unsigned char> flags(static_cast<std::size_t>(C));
    m.save(saved, flags);
    losses::feature_memory<T, policy_type> r(C, D, o, pol);
    r.load(saved, flags);
    CHECK(download<T>(r.normalized_rows().data, C * D) == unit);
  }
  // The mirror is for rows no call learns: with class weights it is refused, and its shape
  // must be the rows'.
  const device_problem<T> d2(p);
  references<T> w = references<T>::weights(d2.rows());
  w.unit_rows = d2.rows();
  cosface_loss<T> cf;
  CHECK(thrown_argument([&] { cf.forward(pol, d2.input(), d2.labels(), w); }) == "references");
  references<T> short_mirror = references<T>::memory(d2.rows());
  short_mirror.unit_rows = matrix_view<const T>(d2.rows().data, C - 1, D);
  uss_loss<T> u;
  CHECK(thrown_argument([&] { u.forward(pol, d2.input(), d2.labels(), short_mirror); }) ==
        "references.unit_rows");
}

TEMPLATE_TEST_CASE("feature memory: save and load round-trip, and the loaded memory resumes",
                   "[losses][memory][api]", float, double) {
  using T = TestType;
  const auto& pol = policy();
  const problem<T> p = make_problem<T>(8, 12, 5, 81);  // 8 anchors: some of 12 rows unwritten
  const index_t C = p.C, D = p.D;
  const device_problem<T> d(p);
  losses::feature_memory<T, policy_type> m(C, D, {}, pol);
  m.update(d.input(), d.labels());
  std::vector<T> rows(static_cast<std::size_t>(C * D), T(-9));
  std::vector<unsigned char> valid(static_cast<std::size_t>(C), 7);
  m.save(rows, valid);
  // What was saved: the last anchor of each label, the others zero and unwritten.
  index_t unwritten = 0;
  for (index_t c = 0; c < C; ++c) {
    index_t last = -1;
    for (index_t i = 0; i < p.B; ++i)
      if (p.y[std::size_t(i)] == c) last = i;
    CHECK(int(valid[std::size_t(c)]) == (last >= 0 ? 1 : 0));
    unwritten += last < 0;
    for (index_t k = 0; k < D; ++k)
      CHECK(rows[std::size_t(c * D + k)] == (last >= 0 ? p.x[std::size_t(last * D + k)] : T(0)));
  }
  REQUIRE(unwritten > 0);

  losses::feature_memory<T, policy_type> r(C, D, {}, pol);
  r.load(rows, valid);
  CHECK(download<T>(r.rows().data, C * D) == rows);
  CHECK(download<unsigned char>(r.valid(), C) == valid);
  // The loaded memory gives the losses of the saved one, to the bit.
  binary_options<T> o;
  o.s = T(12);
  o.init = bias_init::fixed;
  uss_loss<T> a(o), b(o);
  a.set_bias(T(2));
  b.set_bias(T(2));
  CHECK(a.forward(pol, d.input(), d.labels(), m.as_references()) ==
        b.forward(pol, d.input(), d.labels(), r.as_references()));

  // Bad checkpoints are refused before anything is copied.
  losses::feature_memory<T, policy_type> e(C, D, {}, pol);
  const std::span<const T> rs(rows);
  const std::span<const unsigned char> vs(valid);
  CHECK(thrown_argument([&] { e.load(rs.first(rs.size() - 1), vs); }) == "rows");
  CHECK(thrown_argument([&] { e.load(rs, vs.first(vs.size() - 1)); }) == "valid");
  auto bad_flag = valid;
  bad_flag[1] = 2;
  CHECK(thrown_argument([&] { e.load(rs, bad_flag); }) == "valid");
  std::size_t w = 0, u = 0;  // a written and an unwritten identity
  while (valid[w] != 1) ++w;
  while (valid[u] != 0) ++u;
  auto nan_row = rows;
  nan_row[w * std::size_t(D)] = std::numeric_limits<T>::quiet_NaN();
  CHECK(thrown_argument([&] { e.load(nan_row, vs); }) == "rows");
  auto stale = rows;
  stale[u * std::size_t(D)] = T(0.5);
  CHECK(thrown_argument([&] { e.load(stale, vs); }) == "rows");
  CHECK(download<unsigned char>(e.valid(), C) == std::vector<unsigned char>(std::size_t(C), 0));
  CHECK(download<T>(e.rows().data, C * D) == std::vector<T>(std::size_t(C * D), T(0)));
  std::vector<T> short_rows(rows.size() - 1);
  std::vector<unsigned char> short_valid(valid.size() - 1);
  CHECK(thrown_argument([&] { m.save(short_rows, valid); }) == "rows");
  CHECK(thrown_argument([&] { m.save(rows, short_valid); }) == "valid");
}

TEMPLATE_TEST_CASE("mean and sum take a scalar upstream gradient that scales every gradient",
                   "[losses][api]", float, double) {
  using T = TestType;
  const double tol = tolerance<T>();
  const problem<T> p = make_problem<T>(7, 9, 5, 83);
  const T g = T(-2.5);
  for (reduction red : {reduction::mean, reduction::sum}) {
    INFO((red == reduction::mean ? "mean" : "sum"));
    // A loss with class-weight gradients, and one with a bias gradient.
    auto co = cosface_options<T>(T(0.35), T(16));
    co.reduce = red;
    cosface_loss<T> C1(co), C2(co);
    auto S1 = held_binary<T>(T(12), T(0.1), uss_form::per_pair, false, varied_biases<T>(p.C));
    {
      auto o = S1.opts();
      o.reduce = red;
      S1.set_options(o);
    }
    auto S2 = S1;
    for (bool use_backward : {false, true}) {
      INFO((use_backward ? "backward" : "forward_backward"));
      const results<T> plain = gradient_call(C1, p, refs_mode::weights, use_backward);
      const results<T> scaled =
          gradient_call(C2, p, refs_mode::weights, use_backward, std::vector<T>{g});
      // The loss is the loss; the gradients are g times the loss's.
      if (!use_backward) CHECK(scaled.loss == plain.loss);
      CHECK(rel_diff(scaled.gx, times(plain.gx, g)) <= tol);
      CHECK(rel_diff(scaled.gw, times(plain.gw, g)) <= tol);
      const results<T> bplain = gradient_call(S1, p, refs_mode::masked, use_backward);
      const results<T> bscaled =
          gradient_call(S2, p, refs_mode::masked, use_backward, std::vector<T>{g});
      if (!use_backward) CHECK(bscaled.loss == bplain.loss);
      CHECK(rel_diff(bscaled.gx, times(bplain.gx, g)) <= tol);
      CHECK(rel_diff(bscaled.gb, times(bplain.gb, g)) <= tol);
    }
  }
}

}  // namespace api_coverage_test
