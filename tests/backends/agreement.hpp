// Cross-backend agreement: every loss evaluated (forward_backward) on seeded random inputs by
// one policy, with results brought back to the host, so that any backend can be compared
// with host_policy. Used by the Catch2 suite (test_agreement.cpp), built once per backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/losses.hpp"

namespace unitsface::test::agreement {

/// Seeded inputs: B anchors, C references (memory rows or class weights), dimension D.
/// Labels repeat (in-batch positives exist) and a third of the memory rows are unwritten
/// (the masked case).
template <class T>
struct problem {
  index_t B = 12, C = 30, D = 24;
  std::vector<T> x, refs;
  std::vector<index_t> labels;
  std::vector<unsigned char> valid;

  explicit problem(std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    x.resize(static_cast<std::size_t>(B * D));
    refs.resize(static_cast<std::size_t>(C * D));
    for (T& v : x) v = static_cast<T>(normal(gen));
    for (T& v : refs) v = static_cast<T>(normal(gen));
    for (index_t i = 0; i < B; ++i) labels.push_back((i * 7) % (B / 2) * 3 % C);
    for (index_t j = 0; j < C; ++j) valid.push_back(j % 3 == 2 ? 0 : 1);
    for (index_t y : labels) valid[static_cast<std::size_t>(y)] = 1;  // every anchor has a positive
  }
};

/// What one evaluation produced, on the host.
template <class T>
struct outcome {
  T loss = T(0);
  std::vector<T> grad_input, grad_weight, grad_bias, bias_used;
};

inline const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> names{
      "uss_per_pair", "uss_log_of_sums", "uss_in_batch", "uss_masked", "ss_bce", "ss_softmax",
      "cosface",      "arcface",         "combined",     "bce",        "uce"};
  return names;
}

/// Evaluates loss `name` on `pol` (data copied into the policy's memory first).
template <class T, class Policy>
outcome<T> evaluate(const Policy& pol, const std::string& name, const problem<T>& p) {
  using namespace unitsface::losses;
  auto upload = [&](const auto& host) {
    using V = typename std::decay_t<decltype(host)>::value_type;
    auto buf = backends::make_buffer<V>(pol, static_cast<index_t>(host.size()));
    backends::copy_from_host(pol, host.data(), static_cast<index_t>(host.size()),
                             backends::data_ptr(buf));
    return buf;
  };
  auto download = [&](const auto& buf, index_t n) {
    using V = std::remove_cv_t<std::remove_pointer_t<decltype(backends::data_ptr(buf))>>;
    std::vector<V> host(static_cast<std::size_t>(n));
    backends::copy_to_host(pol, backends::data_ptr(buf), n, host.data());
    return host;
  };
  const index_t B = p.B, C = p.C, D = p.D;
  auto x = upload(p.x);
  auto refs = upload(p.refs);
  auto y = upload(p.labels);
  auto valid = upload(p.valid);
  auto gx = backends::make_buffer<T>(pol, B * D);
  auto gw = backends::make_buffer<T>(pol, C * D);
  const matrix_view<const T> xv(backends::data_ptr(x), B, D);
  const vector_view<const index_t> yv(backends::data_ptr(y), B);
  const matrix_view<const T> rv(backends::data_ptr(refs), C, D);
  const bool weights = name == "cosface" || name == "arcface" || name == "combined" ||
                       name == "bce" || name == "uce";
  const references<T> r = weights                  ? references<T>::weights(rv)
                          : name == "uss_in_batch" ? references<T>::in_batch()
                          : name == "uss_masked"
                              ? references<T>::memory(rv, backends::data_ptr(valid))
                              : references<T>::memory(rv);
  const gradients<T> g{matrix_view<T>(backends::data_ptr(gx), B, D),
                       weights ? matrix_view<T>(backends::data_ptr(gw), C, D) : matrix_view<T>{}};
  // Several tiles of references, so that the tile loop is exercised too.
  const index_t tile = 7;

  loss_result<T> res;
  if (name.rfind("uss", 0) == 0) {
    binary_options<T> o;
    o.tile_columns = tile;
    if (name == "uss_log_of_sums") o.form = uss_form::log_of_sums;
    uss_loss<T> L(o);  // bias 0: initialised from the data (a statistics pass + read-back)
    res = L.forward_backward(pol, xv, yv, r, g);
  } else if (name == "ss_bce") {
    binary_options<T> o;
    o.tile_columns = tile;
    ss_bce_loss<T> L(C, o);
    res = L.forward_backward(pol, xv, yv, r, g);
  } else if (name == "ss_softmax") {
    ss_softmax_options<T> o;
    o.tile_columns = tile;
    res = ss_softmax_loss<T>(o).forward_backward(pol, xv, yv, r, g);
  } else if (name == "cosface") {
    auto o = cosface_options<T>();
    o.tile_columns = tile;
    res = cosface_loss<T>(o).forward_backward(pol, xv, yv, r, g);
  } else if (name == "arcface") {
    auto o = arcface_options<T>();
    o.tile_columns = tile;
    res = arcface_loss<T>(o).forward_backward(pol, xv, yv, r, g);
  } else if (name == "combined") {
    auto o = combined_margin_options<T>(T(0.9), T(0.2), T(0.1));
    o.tile_columns = tile;
    res = combined_margin_loss<T>(o).forward_backward(pol, xv, yv, r, g);
  } else if (name == "bce" || name == "uce") {
    auto o = head_options<T>();
    o.tile_columns = tile;
    if (name == "bce") {
      res = bce_head<T>(C, o).forward_backward(pol, xv, yv, r, g);
    } else {
      res = uce_head<T>(C, o).forward_backward(pol, xv, yv, r, g);
    }
  }
  outcome<T> out;
  out.loss = res.loss;
  out.grad_input = download(gx, B * D);
  if (weights) out.grad_weight = download(gw, C * D);
  out.grad_bias = res.grad_bias;
  out.bias_used = res.bias_used;
  return out;
}

/// max |got - want| / max |want| (0 when both are empty; infinite on a size mismatch or NaN).
template <class T>
double relative_error(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return INFINITY;
  double scale = 0.0, err = 0.0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    scale = std::max(scale, std::fabs(static_cast<double>(want[k])));
    const double e = std::fabs(static_cast<double>(got[k]) - static_cast<double>(want[k]));
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  }
  return scale > 0.0 ? err / scale : err;
}

/// The agreement the backends must reach: 1e-12 (double) / 1e-5 (float).
template <class T>
constexpr double tolerance() {
  return sizeof(T) == sizeof(double) ? 1e-12 : 1e-5;
}

}  // namespace unitsface::test::agreement
