// conformance_losses: checks every loss case of a reference-vector folder.
//
//   conformance_losses [FOLDER] [--backend NAME] [--expect-cases N]
//
// FOLDER defaults to the project's vectors (tests/data/vectors) as found at configure time.
// Each case prints the maximum relative error of each field (max |got - expected| /
// max |expected|) and PASS or FAIL against the tolerance table of the vectors' README; the
// last line is "N passed, M failed". The exit status is non-zero when any case fails or
// cannot be read. A case fails when it compared no field, or left a field of its `expected`
// uncompared; with --expect-cases, the run fails unless the folder held exactly N cases.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_run.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/losses.hpp"

#ifndef UNITSFACE_DEFAULT_VECTORS_DIR
#define UNITSFACE_DEFAULT_VECTORS_DIR "tests/data/vectors"
#endif

namespace {

using json = nlohmann::json;
using namespace unitsface;
using namespace unitsface::losses;

// ---------------------------------------------------------------------------------------
// Reading the vectors.

template <class T>
std::vector<T> flat(const json& j) {
  std::vector<T> v;
  if (j.is_array() && !j.empty() && j[0].is_array()) {
    for (const auto& row : j)
      for (const auto& x : row) v.push_back(static_cast<T>(x.get<double>()));
  } else if (j.is_array()) {
    for (const auto& x : j) v.push_back(static_cast<T>(x.get<double>()));
  } else {
    v.push_back(static_cast<T>(j.get<double>()));
  }
  return v;
}

std::vector<index_t> labels_of(const json& j) {
  std::vector<index_t> v;
  for (const auto& x : j) v.push_back(x.get<index_t>());
  return v;
}

/// The README's error measure: max |got - expected| / max |expected|.
template <class T>
double rel_error(const std::vector<T>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return INFINITY;
  double scale = 0.0, err = 0.0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    scale = std::max(scale, std::fabs(want[k]));
    const double e = std::fabs(static_cast<double>(got[k]) - want[k]);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
  }
  return scale > 0.0 ? err / scale : err;
}

struct field_check {
  std::string field;
  double error;
  double tolerance;
};

struct case_report {
  std::vector<field_check> fields;
  std::string error;  // set when the case could not be evaluated
  bool passed() const {
    if (!error.empty() || fields.empty()) return false;
    for (const auto& f : fields)
      if (!(f.error <= f.tolerance)) return false;
    return true;
  }
};

struct tolerances {
  double main, bias_official, bias_other, memory;
};
tolerances tolerances_for(bool is_double) {
  if (is_double) return {1e-9, 1e-6, 1e-9, 1e-15};
  return {1e-4, 1e-4, 1e-4, 1e-7};
}

// ---------------------------------------------------------------------------------------
// Data in the policy's memory.

template <class T, class Policy>
struct device_data {
  const Policy& pol;
  decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0)) buf;
  index_t n;
  device_data(const Policy& p, const std::vector<T>& host)
      : pol(p),
        buf(backends::make_buffer<T>(p, static_cast<index_t>(host.size()))),
        n(static_cast<index_t>(host.size())) {
    backends::copy_from_host(p, host.data(), n, backends::data_ptr(buf));
  }
  device_data(const Policy& p, index_t size)
      : pol(p), buf(backends::make_buffer<T>(p, size)), n(size) {}
  T* data() { return backends::data_ptr(buf); }
  std::vector<T> host() const {
    std::vector<T> h(static_cast<std::size_t>(n));
    backends::copy_to_host(pol, backends::data_ptr(buf), n, h.data());
    return h;
  }
};

// ---------------------------------------------------------------------------------------
// One case of a pairwise loss.

template <class T, class Policy>
case_report run_pairwise(const Policy& pol, const json& c) {
  case_report rep;
  const bool dbl = std::is_same_v<T, double>;
  const tolerances tol = tolerances_for(dbl);
  const index_t B = c.at("B"), C = c.at("C"), D = c.at("D");
  const std::string kind = c.at("kind");
  const std::string family = c.at("family");
  const json& ex = c.at("expected");
  const T s = static_cast<T>(c.at("s").get<double>());

  device_data<T, Policy> x(pol, flat<T>(c.at("input")));
  device_data<index_t, Policy> y(pol, labels_of(c.at("labels")));
  device_data<T, Policy> gx(pol, B * D);
  matrix_view<const T> xv(x.data(), B, D);
  vector_view<const index_t> yv(y.data(), B);

  const bool s2c = family == "sample_to_class";
  const std::string pairs = c.value("pairs", std::string("memory"));
  std::vector<T> ref_host =
      s2c ? flat<T>(c.at("weight"))
          : (pairs == "in_batch" ? std::vector<T>{} : flat<T>(c.at("memory")));
  device_data<T, Policy> refs_buf(pol, ref_host);
  std::vector<unsigned char> valid_host;
  if (c.contains("valid"))
    for (const auto& v : c.at("valid")) valid_host.push_back(v.get<bool>() ? 1 : 0);
  device_data<unsigned char, Policy> valid(pol, valid_host);

  references<T> refs = references<T>::in_batch();
  if (s2c) {
    refs = references<T>::weights(matrix_view<const T>(refs_buf.data(), C, D));
  } else if (pairs != "in_batch") {
    refs = references<T>::memory(matrix_view<const T>(refs_buf.data(), C, D),
                                 valid_host.empty() ? nullptr : valid.data());
  }
  device_data<T, Policy> gw(pol, s2c ? C * D : 0);
  gradients<T> grads{matrix_view<T>(gx.data(), B, D),
                     s2c ? matrix_view<T>(gw.data(), C, D) : matrix_view<T>{}};

  auto check_common = [&](const loss_result<T>& r) {
    rep.fields.push_back(
        {"loss", rel_error(std::vector<T>{r.loss}, flat<double>(ex.at("loss"))), tol.main});
    rep.fields.push_back(
        {"grad_input", rel_error(gx.host(), flat<double>(ex.at("grad_input"))), tol.main});
    if (s2c)
      rep.fields.push_back(
          {"grad_weight", rel_error(gw.host(), flat<double>(ex.at("grad_weight"))), tol.main});
  };

  if (kind == "cosface" || kind == "arcface" || kind == "combined_margin") {
    loss_result<T> r;
    if (kind == "cosface") {
      cosface_loss<T> L(cosface_options<T>(static_cast<T>(c.at("m").get<double>()), s));
      r = L.forward_backward(pol, xv, yv, refs, grads);
    } else if (kind == "arcface") {
      const std::string g = c.at("gradient"), p = c.at("policy");
      const arcface_policy ap = p == "none"          ? arcface_policy::none
                                : p == "easy_margin" ? arcface_policy::easy_margin
                                                     : arcface_policy::classic_fallback;
      const arcface_gradient ag =
          g == "straight_through" ? arcface_gradient::straight_through : arcface_gradient::exact;
      arcface_loss<T> L(arcface_options<T>(static_cast<T>(c.at("m").get<double>()), ap, ag, s));
      r = L.forward_backward(pol, xv, yv, refs, grads);
    } else {
      combined_margin_loss<T> L(combined_margin_options<T>(
          static_cast<T>(c.at("m1").get<double>()), static_cast<T>(c.at("m2").get<double>()),
          static_cast<T>(c.at("m3").get<double>()), s));
      r = L.forward_backward(pol, xv, yv, refs, grads);
    }
    check_common(r);
  } else if (kind == "ss_softmax") {
    ss_softmax_options<T> o;
    o.s = s;
    o.m = static_cast<T>(c.at("m").get<double>());
    ss_softmax_loss<T> L(o);
    check_common(L.forward_backward(pol, xv, yv, refs, grads));
  } else if (kind == "uss" || kind == "ss_bce" || kind == "bce" || kind == "uce") {
    binary_options<T> o;
    o.s = s;
    o.m = static_cast<T>(c.at("m").get<double>());
    o.form = c.value("form", std::string("per_pair")) == "log_of_sums" ? uss_form::log_of_sums
                                                                       : uss_form::per_pair;
    o.clamp = c.value("clamp", true);
    o.storage = bias_storage::float32;  // the official code stores an initialised bias in float32
    const bool per_column = kind == "ss_bce" || kind == "bce";
    const bool data_init = kind == "uss" || kind == "ss_bce";
    o.init = data_init ? bias_init::data_dependent : bias_init::fixed;
    const index_t nbias = per_column ? C : 1;
    std::vector<T> bias_in = flat<T>(c.at("bias_in"));
    if (bias_in.size() == 1 && nbias > 1)
      bias_in.assign(static_cast<std::size_t>(nbias), bias_in[0]);
    const std::vector<double> bias_used = flat<double>(ex.at("bias_used"));
    bool initialised_here = false;
    {
      // 1. The bias as the loss initialises (or keeps) it: compared with bias_used.
      binary_loss<T> L(o, per_column, C, T(0));
      L.set_biases(bias_in);
      const std::vector<T> before = L.biases();
      L.forward(pol, xv, yv, refs);
      initialised_here = L.biases() != before;
      std::vector<double> got(L.biases().begin(), L.biases().end());
      rep.fields.push_back({"bias_used", rel_error(got, bias_used),
                            initialised_here ? tol.bias_official : tol.bias_other});
    }
    // 2. Loss and gradients evaluated at the expected bias_used (README: evaluate there).
    binary_options<T> o2 = o;
    o2.init = bias_init::fixed;
    binary_loss<T> L(o2, per_column, C, T(0));
    std::vector<T> b(bias_used.begin(), bias_used.end());
    L.set_biases(b);
    const loss_result<T> r = L.forward_backward(pol, xv, yv, refs, grads);
    check_common(r);
    rep.fields.push_back({"grad_bias", rel_error(r.grad_bias, flat<double>(ex.at("grad_bias"))),
                          initialised_here ? tol.bias_official : tol.bias_other});
  } else {
    rep.error = "unknown pairwise kind '" + kind + "'";
  }
  return rep;
}

// ---------------------------------------------------------------------------------------
// memory_update: batches written in order, memory_after after each.

template <class T, class Policy>
case_report run_memory_update(const Policy& pol, const json& c) {
  case_report rep;
  const tolerances tol = tolerances_for(std::is_same_v<T, double>);
  const index_t C = c.at("C"), D = c.at("D");
  feature_memory<T, Policy> mem(C, D, {}, pol);
  int k = 0;
  for (const auto& b : c.at("batches")) {
    std::vector<T> xh = flat<T>(b.at("input"));
    const index_t B = static_cast<index_t>(xh.size()) / D;
    device_data<T, Policy> x(pol, xh);
    device_data<index_t, Policy> y(pol, labels_of(b.at("labels")));
    mem.update(matrix_view<const T>(x.data(), B, D), vector_view<const index_t>(y.data(), B));
    std::vector<T> rows(static_cast<std::size_t>(C * D));
    backends::copy_to_host(pol, mem.rows().data, C * D, rows.data());
    rep.fields.push_back({"memory_after[" + std::to_string(k++) + "]",
                          rel_error(rows, flat<double>(b.at("memory_after"))), tol.memory});
  }
  return rep;
}

// ---------------------------------------------------------------------------------------
// embedded_trace: the official schedule (CosFace + USS-m, warm-up, memory written each step).

template <class T, class Policy>
case_report run_embedded_trace(const Policy& pol, const json& c) {
  case_report rep;
  const tolerances tol = tolerances_for(std::is_same_v<T, double>);
  const index_t C = c.at("C"), D = c.at("D");
  const T s = static_cast<T>(c.at("s").get<double>());
  const json& s2c = c.at("s2c");
  const json& s2s = c.at("s2s");
  if (s2c.at("kind") != "cosface" || s2s.at("kind") != "uss") {
    rep.error = "embedded_trace: only cosface + uss traces are known";
    return rep;
  }
  binary_options<T> uo;
  uo.s = s;
  uo.m = static_cast<T>(s2s.at("m").get<double>());
  uo.storage = bias_storage::float32;
  uss_loss<T> uss(uo);
  uss.set_bias(static_cast<T>(s2s.at("bias_in").get<double>()));
  embedded_options<T> eo;
  eo.lambda = static_cast<T>(c.at("lambda").get<double>());
  eo.warmup_epochs = c.at("warmup_epochs").get<index_t>();
  embedded_loss<T> loss(
      cosface_loss<T>(cosface_options<T>(static_cast<T>(s2c.at("m").get<double>()), s)), uss, eo);
  feature_memory<T, Policy> mem(C, D, {}, pol);
  device_data<T, Policy> w(pol, flat<T>(c.at("weight")));
  bool initialised_earlier = false;
  int k = 0;
  for (const auto& st : c.at("steps")) {
    const std::string tag = "[" + std::to_string(k++) + "]";
    std::vector<T> xh = flat<T>(st.at("input"));
    const index_t B = static_cast<index_t>(xh.size()) / D;
    device_data<T, Policy> x(pol, xh);
    device_data<index_t, Policy> y(pol, labels_of(st.at("labels")));
    device_data<T, Policy> gx(pol, B * D), gw(pol, C * D);
    matrix_view<const T> xv(x.data(), B, D);
    vector_view<const index_t> yv(y.data(), B);
    const json& ex = st.at("expected");
    const index_t epoch = st.at("epoch");
    bool from_init = initialised_earlier;
    if (ex.contains("bias_used")) {
      const std::vector<double> bu = flat<double>(ex.at("bias_used"));
      uss_loss<T>& u = loss.sample_to_sample();
      if (u.bias() <= T(0)) {
        // The initialisation this step would run, on a copy: compared with bias_used.
        uss_loss<T> probe = u;
        probe.forward(pol, xv, yv, mem.as_references());
        rep.fields.push_back(
            {"bias_used" + tag, rel_error(std::vector<T>{probe.bias()}, bu), tol.bias_official});
        from_init = initialised_earlier = true;
      } else {
        rep.fields.push_back({"bias_used" + tag, rel_error(std::vector<T>{u.bias()}, bu),
                              from_init ? tol.bias_official : tol.bias_other});
      }
      u.set_bias(static_cast<T>(bu[0]));  // evaluate at bias_used (README)
    }
    const loss_result<T> r = loss.step(
        pol, xv, yv, matrix_view<const T>(w.data(), C, D),
        gradients<T>{matrix_view<T>(gx.data(), B, D), matrix_view<T>(gw.data(), C, D)}, mem, epoch);
    rep.fields.push_back(
        {"loss" + tag, rel_error(std::vector<T>{r.loss}, flat<double>(ex.at("loss"))), tol.main});
    rep.fields.push_back(
        {"grad_input" + tag, rel_error(gx.host(), flat<double>(ex.at("grad_input"))), tol.main});
    rep.fields.push_back(
        {"grad_weight" + tag, rel_error(gw.host(), flat<double>(ex.at("grad_weight"))), tol.main});
    if (ex.contains("grad_bias"))
      rep.fields.push_back({"grad_bias" + tag,
                            rel_error(r.grad_bias, flat<double>(ex.at("grad_bias"))),
                            from_init ? tol.bias_official : tol.bias_other});
    std::vector<T> rows(static_cast<std::size_t>(C * D));
    backends::copy_to_host(pol, mem.rows().data, C * D, rows.data());
    rep.fields.push_back(
        {"memory_after" + tag, rel_error(rows, flat<double>(ex.at("memory_after"))), tol.memory});
  }
  return rep;
}

template <class T, class Policy>
case_report run_case_typed(const Policy& pol, const json& c) {
  const std::string kind = c.at("kind");
  if (kind == "memory_update") return run_memory_update<T>(pol, c);
  if (kind == "embedded_trace") return run_embedded_trace<T>(pol, c);
  return run_pairwise<T>(pol, c);
}

/// The expected fields of a case that no check compared: every field the vectors' README
/// documents under `expected` (per step of a trace, per batch of a memory update) must have
/// been compared, so that a case cannot pass by checking less than it holds.
std::vector<std::string> not_compared(const json& c, const case_report& rep) {
  std::vector<std::string> missing;
  auto need = [&](const std::string& name) {
    const bool found = std::any_of(rep.fields.begin(), rep.fields.end(),
                                   [&](const field_check& f) { return f.field == name; });
    if (!found) missing.push_back(name);
  };
  const std::string kind = c.value("kind", std::string());
  if (kind == "memory_update") {
    for (std::size_t k = 0; k < c.at("batches").size(); ++k)
      need("memory_after[" + std::to_string(k) + "]");
  } else if (kind == "embedded_trace") {
    std::size_t k = 0;
    for (const auto& st : c.at("steps")) {
      const std::string tag = "[" + std::to_string(k++) + "]";
      for (const auto& [key, value] : st.at("expected").items()) need(key + tag);
    }
  } else {
    for (const auto& [key, value] : c.at("expected").items()) need(key);
  }
  return missing;
}

template <class Policy>
case_report run_case(const Policy& pol, const json& c) {
  try {
    const std::string dtype = c.at("dtype");
    if (dtype == "float64") return run_case_typed<double>(pol, c);
    if (dtype == "float32") return run_case_typed<float>(pol, c);
    case_report r;
    r.error = "unknown dtype '" + dtype + "'";
    return r;
  } catch (const std::exception& e) {
    case_report r;
    r.error = e.what();
    return r;
  }
}

}  // namespace

int main(int argc, char** argv) {
  unitsface::test::conformance_run run{UNITSFACE_DEFAULT_VECTORS_DIR, "eigen"};
  if (const int status = unitsface::test::start_conformance("conformance_losses", argc, argv, run);
      status >= 0) {
    return status;
  }
  const std::string& backend = run.backend;
  const auto& files = run.files;
  const std::string& folder = run.folder;
  int passed = 0, failed = 0;
  std::cout << "conformance_losses: " << files.size() << " case(s) in " << folder << ", backend "
            << backend << '\n';
  for (const auto& f : files) {
    json c;
    case_report rep;
    try {
      std::ifstream in(f);
      c = json::parse(in);
    } catch (const std::exception& e) {
      rep.error = std::string("cannot parse: ") + e.what();
    }
    if (rep.error.empty()) {
      unitsface::test::with_backend(backend, [&](const auto& pol) { rep = run_case(pol, c); });
    }
    if (rep.error.empty()) {
      try {
        for (const auto& name : not_compared(c, rep)) rep.error += "not compared: " + name + " ";
      } catch (const std::exception& e) {
        rep.error = std::string("malformed case: ") + e.what();
      }
    }
    const bool ok = rep.passed();
    (ok ? passed : failed) += 1;
    std::printf("%-4s %-52s", ok ? "PASS" : "FAIL", f.filename().string().c_str());
    for (const auto& fc : rep.fields)
      std::printf(" %s=%.2e%s", fc.field.c_str(), fc.error, fc.error <= fc.tolerance ? "" : "(!)");
    if (!rep.error.empty()) std::printf(" error: %s", rep.error.c_str());
    std::printf("\n");
  }
  return unitsface::test::finish_conformance("conformance_losses", run, passed, failed);
}
