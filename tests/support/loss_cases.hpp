// Test support: seeded problems and a uniform way to run every loss of the library on them,
// in the test executable's backend, so that gradchecks, properties and cross-precision
// checks sweep all losses and options with the same code.
#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends.hpp"
#include "reference_losses.hpp"
#include "unitsface/losses.hpp"

namespace unitsface::test {

using namespace unitsface::losses;

/// Anchors x (B x D), labels y, references w (C x D), a validity mask; all host data.
template <class T>
struct problem {
  index_t B = 0, C = 0, D = 0;
  std::vector<T> x, w;
  std::vector<index_t> y;
  std::vector<unsigned char> valid;  // used by the masked cases

  template <class U>
  problem<U> as() const {
    problem<U> p;
    p.B = B;
    p.C = C;
    p.D = D;
    p.x.assign(x.begin(), x.end());
    p.w.assign(w.begin(), w.end());
    p.y = y;
    p.valid = valid;
    return p;
  }
};

/// Seeded Gaussian data. Labels repeat (so in-batch pairs have positives); every third
/// reference row is marked unwritten, except the rows of the batch's labels.
template <class T>
problem<T> make_problem(index_t B, index_t C, index_t D, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  problem<T> p;
  p.B = B;
  p.C = C;
  p.D = D;
  for (index_t k = 0; k < B * D; ++k) p.x.push_back(static_cast<T>(n01(rng)));
  for (index_t k = 0; k < C * D; ++k) p.w.push_back(static_cast<T>(n01(rng)));
  std::uniform_int_distribution<index_t> lab(0, std::max<index_t>(0, std::min(C, B / 2 + 1) - 1));
  for (index_t i = 0; i < B; ++i) p.y.push_back(lab(rng));
  p.valid.assign(static_cast<std::size_t>(C), 1);
  for (index_t j = 0; j < C; j += 3) p.valid[static_cast<std::size_t>(j)] = 0;
  for (index_t yy : p.y) p.valid[static_cast<std::size_t>(yy)] = 1;
  return p;
}

template <class T>
struct outcome {
  T loss = T(0);
  std::vector<T> gx, gw, gb;
};

/// Which references a case uses.
enum class refs_mode { weights, memory, masked, in_batch };

/// One loss configuration under test. `run` evaluates it at the given bias (ignored without
/// one), forward only or with gradients, in the test backend.
template <class T>
struct loss_case {
  std::string name;
  refs_mode mode = refs_mode::memory;
  int bias = 0;                ///< 0: none, 1: scalar, 2: one per reference row
  bool exact_gradient = true;  ///< false: a deliberately non-exact gradient (straight-through)
  std::function<outcome<T>(const problem<T>&, const std::vector<T>&, bool)> run;
  /// The naive long-double reference value (reference_losses.hpp) at the same bias.
  std::function<double(const problem<double>&, const std::vector<double>&)> reference;
};

/// The reference pair set of a problem for a refs mode.
inline reference::pair_set reference_pairs(const problem<double>& p, refs_mode mode) {
  return reference::pairs(p.x, p.y, mode == refs_mode::in_batch ? nullptr : &p.w,
                          mode == refs_mode::masked ? &p.valid : nullptr, p.B, p.C, p.D);
}

/// A problem's data copied into the test policy's memory, and views of it.
template <class T>
struct device_problem {
  index_t B, C, D;
  decltype(upload(std::vector<T>{})) x, w;
  decltype(upload(std::vector<index_t>{})) y;
  decltype(upload(std::vector<unsigned char>{})) valid;

  explicit device_problem(const problem<T>& p)
      : B(p.B),
        C(p.C),
        D(p.D),
        x(upload(p.x)),
        w(upload(p.w)),
        y(upload(p.y)),
        valid(upload(p.valid)) {}
  matrix_view<const T> input() const { return {backends::data_ptr(x), B, D}; }
  vector_view<const index_t> labels() const { return {backends::data_ptr(y), B}; }
  /// The reference rows (class weights or memory), C x D.
  matrix_view<const T> rows() const { return {backends::data_ptr(w), C, D}; }
  const unsigned char* valid_flags() const { return backends::data_ptr(valid); }
};

/// While one lives, run_loss evaluates forwards (not gradients) on the host policy from host
/// memory instead of the test backend: for the many forward evaluations of a finite-difference
/// check, which are the reference a backend's analytic gradient is checked against, not code
/// under test (a backend's forward is checked against the host's by the agreement and
/// conformance suites). On the simulated device, whose every kernel switches page protections
/// and runs twice, it makes the extremes suite's gradient checks minutes shorter.
struct host_reference_scope {
  static inline int depth = 0;
  host_reference_scope() { ++depth; }
  ~host_reference_scope() { --depth; }
  host_reference_scope(const host_reference_scope&) = delete;
  host_reference_scope& operator=(const host_reference_scope&) = delete;
};

/// Runs any loss object with forward_backward (or forward) in the test backend.
template <class T, class Loss>
outcome<T> run_loss(Loss& loss, const problem<T>& p, refs_mode mode, bool grad) {
  if (!grad && host_reference_scope::depth > 0) {
    const matrix_view<const T> xv(p.x.data(), p.B, p.D), wv(p.w.data(), p.C, p.D);
    const vector_view<const index_t> yv(p.y.data(), p.B);
    const references<T> refs = mode == refs_mode::weights  ? references<T>::weights(wv)
                               : mode == refs_mode::memory ? references<T>::memory(wv)
                               : mode == refs_mode::masked
                                   ? references<T>::memory(wv, p.valid.data())
                                   : references<T>::in_batch();
    outcome<T> out;
    out.loss = loss.forward(host_policy{}, xv, yv, refs);
    return out;
  }
  const auto& pol = policy();
  const device_problem<T> d(p);
  const matrix_view<const T> xv = d.input(), wv = d.rows();
  const vector_view<const index_t> yv = d.labels();
  references<T> refs = mode == refs_mode::weights  ? references<T>::weights(wv)
                       : mode == refs_mode::memory ? references<T>::memory(wv)
                       : mode == refs_mode::masked ? references<T>::memory(wv, d.valid_flags())
                                                   : references<T>::in_batch();
  outcome<T> out;
  if (!grad) {
    out.loss = loss.forward(pol, xv, yv, refs);
    return out;
  }
  auto gx = backends::make_buffer<T>(pol, p.B * p.D);
  auto gw = backends::make_buffer<T>(pol, mode == refs_mode::weights ? p.C * p.D : 0);
  gradients<T> g{matrix_view<T>(backends::data_ptr(gx), p.B, p.D),
                 mode == refs_mode::weights ? matrix_view<T>(backends::data_ptr(gw), p.C, p.D)
                                            : matrix_view<T>{}};
  const loss_result<T> r = loss.forward_backward(pol, xv, yv, refs, g);
  out.loss = r.loss;
  out.gx = download<T>(backends::data_ptr(gx), p.B * p.D);
  if (mode == refs_mode::weights) out.gw = download<T>(backends::data_ptr(gw), p.C * p.D);
  out.gb = r.grad_bias;
  return out;
}

/// A binary loss (USS, SS-BCE, BCE/UCE heads) held at a fixed bias: b0 for every entry.
template <class T>
binary_loss<T> fixed_bias_loss(T s, T m, uss_form form, bool clamp, bool per_column,
                               index_t classes, T b0, index_t tile_columns = 0) {
  binary_options<T> o;
  o.s = s;
  o.m = m;
  o.form = form;
  o.clamp = clamp;
  o.init = bias_init::fixed;
  o.tile_columns = tile_columns;
  return binary_loss<T>(o, per_column, classes, b0);
}

template <class T>
loss_case<T> binary_case(std::string name, refs_mode mode, bool per_column, uss_form form,
                         bool clamp, T s, T m) {
  loss_case<T> c;
  c.name = std::move(name);
  c.mode = mode;
  c.bias = per_column ? 2 : 1;
  c.run = [=](const problem<T>& p, const std::vector<T>& bias, bool grad) {
    auto L = fixed_bias_loss<T>(s, m, form, clamp, per_column, p.C, T(0));
    L.set_biases(bias);
    return run_loss(L, p, mode, grad);
  };
  c.reference = [=](const problem<double>& p, const std::vector<double>& bias) {
    return reference::binary(reference_pairs(p, mode), bias, form == uss_form::log_of_sums, clamp,
                             double(s), double(m));
  };
  return c;
}

template <class T, class Margin, class Target>
loss_case<T> softmax_case(std::string name, softmax_options<T, Margin> o, Target target,
                          bool exact = true) {
  loss_case<T> c;
  c.name = std::move(name);
  c.mode = refs_mode::weights;
  c.exact_gradient = exact;
  c.run = [=](const problem<T>& p, const std::vector<T>&, bool grad) {
    softmax_head<T, Margin> L(o);
    return run_loss(L, p, refs_mode::weights, grad);
  };
  const double s = double(o.s);
  c.reference = [=](const problem<double>& p, const std::vector<double>&) {
    return reference::softmax(reference_pairs(p, refs_mode::weights), s, target);
  };
  return c;
}

template <class T>
loss_case<T> ss_softmax_case(std::string name, refs_mode mode, T s, T m) {
  loss_case<T> c;
  c.name = std::move(name);
  c.mode = mode;
  c.run = [=](const problem<T>& p, const std::vector<T>&, bool grad) {
    ss_softmax_options<T> o;
    o.s = s;
    o.m = m;
    ss_softmax_loss<T> L(o);
    return run_loss(L, p, mode, grad);
  };
  c.reference = [=](const problem<double>& p, const std::vector<double>&) {
    return reference::ss_softmax(reference_pairs(p, mode), double(s), double(m));
  };
  return c;
}

/// Every loss and option of the library. Scales are moderate (s = 8 .. 16) so that finite
/// differences stay well conditioned; the official s = 64 is covered by the shared vectors.
template <class T>
std::vector<loss_case<T>> all_loss_cases() {
  using F = uss_form;
  std::vector<loss_case<T>> v;
  v.push_back(binary_case<T>("uss per_pair clamp memory", refs_mode::memory, false, F::per_pair,
                             true, T(8), T(0.1)));
  v.push_back(binary_case<T>("uss per_pair memory m=0", refs_mode::memory, false, F::per_pair,
                             false, T(12), T(0)));
  v.push_back(binary_case<T>("uss per_pair masked", refs_mode::masked, false, F::per_pair, false,
                             T(12), T(0.1)));
  v.push_back(binary_case<T>("uss per_pair in_batch", refs_mode::in_batch, false, F::per_pair,
                             false, T(12), T(0.1)));
  v.push_back(binary_case<T>("uss log_of_sums memory", refs_mode::memory, false, F::log_of_sums,
                             false, T(12), T(0.1)));
  v.push_back(binary_case<T>("uss log_of_sums masked", refs_mode::masked, false, F::log_of_sums,
                             false, T(12), T(0.1)));
  v.push_back(binary_case<T>("uss log_of_sums in_batch", refs_mode::in_batch, false, F::log_of_sums,
                             false, T(12), T(0.1)));
  v.push_back(binary_case<T>("ss_bce clamp memory", refs_mode::memory, true, F::per_pair, true,
                             T(8), T(0.1)));
  v.push_back(
      binary_case<T>("ss_bce masked", refs_mode::masked, true, F::per_pair, false, T(12), T(0.1)));
  v.push_back(
      binary_case<T>("bce head", refs_mode::weights, true, F::per_pair, true, T(8), T(0.4)));
  v.push_back(
      binary_case<T>("uce head", refs_mode::weights, false, F::per_pair, true, T(8), T(0.4)));
  v.push_back(binary_case<T>("uce head log_of_sums", refs_mode::weights, false, F::log_of_sums,
                             false, T(8), T(0.4)));
  v.push_back(ss_softmax_case<T>("ss_softmax memory", refs_mode::memory, T(16), T(0.1)));
  v.push_back(ss_softmax_case<T>("ss_softmax masked", refs_mode::masked, T(16), T(0.1)));
  v.push_back(ss_softmax_case<T>("ss_softmax in_batch", refs_mode::in_batch, T(16), T(0.1)));
  using ld = reference::ld;
  auto cosface = [](ld m) { return [m](ld c) { return c - m; }; };
  // ArcFace written as cos(acos(c) + m), the classic fallback and easy margin as in
  // insightface's ArcMarginProduct.
  auto arc = [](ld m, int policy) {
    return [m, policy](ld c) {
      const ld pi = std::acos(ld(-1));
      const ld phi = std::cos(std::acos(c) + m);
      if (policy == 1) return c > 0 ? phi : c;                                        // easy margin
      if (policy == 2) return c > std::cos(pi - m) ? phi : c - std::sin(pi - m) * m;  // classic
      return phi;
    };
  };
  v.push_back(softmax_case<T>("normalised softmax", cosface_options<T>(T(0), T(16)), cosface(0)));
  v.push_back(softmax_case<T>("cosface", cosface_options<T>(T(0.35), T(16)), cosface(ld(0.35))));
  v.push_back(softmax_case<T>(
      "arcface classic_fallback",
      arcface_options<T>(T(0.5), arcface_policy::classic_fallback, arcface_gradient::exact, T(16)),
      arc(ld(0.5), 2)));
  v.push_back(softmax_case<T>(
      "arcface easy_margin",
      arcface_options<T>(T(0.5), arcface_policy::easy_margin, arcface_gradient::exact, T(16)),
      arc(ld(0.5), 1)));
  v.push_back(softmax_case<T>(
      "arcface none",
      arcface_options<T>(T(0.5), arcface_policy::none, arcface_gradient::exact, T(16)),
      arc(ld(0.5), 0)));
  v.push_back(softmax_case<T>(
      "arcface straight_through",
      arcface_options<T>(T(0.5), arcface_policy::none, arcface_gradient::straight_through, T(16)),
      arc(ld(0.5), 0), false));
  v.push_back(
      softmax_case<T>("combined margin", combined_margin_options<T>(T(0.9), T(0.3), T(0.15), T(16)),
                      [](ld c) { return std::cos(ld(0.9) * std::acos(c) + ld(0.3)) - ld(0.15); }));
  return v;
}

/// A bias for a case: b0 for every entry (sized 1 or C).
template <class T>
std::vector<T> bias_for(const loss_case<T>& c, index_t C, T b0) {
  if (c.bias == 0) return {};
  return std::vector<T>(static_cast<std::size_t>(c.bias == 2 ? C : 1), b0);
}

/// max |a - b| / max |b| (the vectors' README measure).
template <class A, class B>
double rel_diff(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return INFINITY;
  double scale = 0.0, err = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    scale = std::max(scale, std::fabs(static_cast<double>(b[k])));
    err = std::max(err, std::fabs(static_cast<double>(a[k]) - static_cast<double>(b[k])));
  }
  return scale > 0.0 ? err / scale : err;
}

}  // namespace unitsface::test
