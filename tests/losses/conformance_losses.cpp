// conformance_losses: checks every loss case of a reference-vector folder.
//
//   conformance_losses [FOLDER] [--backend NAME] [--expect-cases N]
//   mpirun -np N conformance_losses_mpi [FOLDER] [--backend NAME] [--expect-cases N] --ranks N
//
// FOLDER defaults to the project's vectors (tests/data/vectors) as found at configure time.
// Each case prints the maximum relative error of each field (max |got - expected| /
// max |expected|) and PASS or FAIL against the tolerance table of the vectors' README; the
// last line is "N passed, M failed". The exit status is non-zero when any case fails or
// cannot be read. A case fails when it compared no field, or left a field of its `expected`
// uncompared; with --expect-cases, the run fails unless the folder held exactly N cases.
//
// conformance_losses_mpi is this file built with UNITSFACE_CONFORMANCE_MPI=1 and MPI: every
// case is evaluated over class shards in separate processes, through the calls of
// unitsface::distributed and its MPI communicator, and compared with the same fields and
// tolerances. --ranks N is required and must equal the number of MPI processes (else exit 2);
// the backend must keep its data in host memory (the MPI communicator's).
// - Sharded: every rank reads the whole case and holds the whole batch (input, labels) and its
//   even share of the C classes (distributed::even_shard): its rows of the class weights, of the
//   feature memory and of its `valid` flags. A binary loss keeps all C biases on every rank, as
//   a sharded loss does. memory_update and embedded_trace cases write sharded feature memories;
//   a trace's steps run through distributed::step, and the probe of its bias initialisation
//   through distributed::forward on the memory shard's references.
// - Not sharded: cases with in-batch pairs (`pairs: in_batch`) have no classes; every rank
//   evaluates them with the plain calls (they stay in the report and the counts).
// - Reassembled on every rank before the comparison: the rows of d loss / d W and of the
//   memory are gathered in rank order (MPI_Allgatherv); a per-class bias gradient is summed over
//   the ranks (MPI_Allreduce: a rank's entries outside its classes are 0, so the sum is exact).
//   The loss, d loss / d x, a scalar bias gradient and the biases used are whole on every rank.
// Every rank compares; a field's printed error is the largest over the ranks, and a case that
// failed on any rank fails (its line names those ranks). Only rank 0 prints; every rank exits
// non-zero when any case failed on any rank.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_run.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/losses.hpp"

#ifndef UNITSFACE_DEFAULT_VECTORS_DIR
#define UNITSFACE_DEFAULT_VECTORS_DIR "tests/data/vectors"
#endif
#ifndef UNITSFACE_CONFORMANCE_MPI
#define UNITSFACE_CONFORMANCE_MPI 0
#endif
#if UNITSFACE_CONFORMANCE_MPI
#include <mpi.h>

#include <cstdlib>

#include "unitsface/distributed.hpp"
#include "unitsface/distributed/mpi.hpp"
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
// Class shards (conformance_losses_mpi): the classes this process holds, the calls over them,
// and the full results reassembled from every rank's. Without MPI one process holds every
// class, the calls are the plain ones and nothing is reassembled.

#if UNITSFACE_CONFORMANCE_MPI
constexpr const char* program = "conformance_losses_mpi";
distributed::mpi_communicator* world = nullptr;  // set by main()

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, double> ? MPI_DOUBLE : MPI_FLOAT;
}
#else
constexpr const char* program = "conformance_losses";
#endif

/// The classes of a case that this process holds: all of them, or (`sharded`) its rank's
/// even share, whose results the ranks then reassemble.
struct held_classes {
  class_range range;
  bool sharded = false;
};

/// What this process holds of C classes; `shardable` false (in-batch pairs, no classes): all.
held_classes hold(index_t C, [[maybe_unused]] bool shardable) {
#if UNITSFACE_CONFORMANCE_MPI
  if (shardable) return {distributed::even_shard(C, world->size(), world->rank()), true};
#endif
  return {class_range{0, C, C}, false};
}

/// The held rows of a row-major matrix of h.range.total rows of `width` values.
template <class T>
std::vector<T> rows_of(std::vector<T> all, const held_classes& h, index_t width) {
  if (!h.sharded) return all;
  if (static_cast<index_t>(all.size()) != h.range.total * width)
    throw std::runtime_error("a matrix of " + std::to_string(all.size()) + " values for " +
                             std::to_string(h.range.total) + " rows of " + std::to_string(width));
  return std::vector<T>(all.begin() + h.range.first * width, all.begin() + h.range.end() * width);
}

/// The whole matrix (h.range.total rows of `width`) from every rank's held rows, in rank order.
template <class T>
std::vector<T> gather_rows(std::vector<T> own, [[maybe_unused]] const held_classes& h,
                           [[maybe_unused]] index_t width) {
#if UNITSFACE_CONFORMANCE_MPI
  if (h.sharded) {
    const int R = world->size();
    std::vector<int> counts(static_cast<std::size_t>(R)), displs(counts.size());
    for (int r = 0; r < R; ++r) {
      const class_range p = distributed::even_shard(h.range.total, R, r);
      counts[static_cast<std::size_t>(r)] = static_cast<int>(p.count * width);
      displs[static_cast<std::size_t>(r)] = static_cast<int>(p.first * width);
    }
    std::vector<T> all(static_cast<std::size_t>(h.range.total * width));
    MPI_Allgatherv(own.data(), static_cast<int>(own.size()), mpi_type<T>(), all.data(),
                   counts.data(), displs.data(), mpi_type<T>(), world->comm());
    return all;
  }
#endif
  return own;
}

/// A per-class bias gradient of the whole from every rank's (each holds its own classes'
/// entries and zeros elsewhere): the sum over the ranks.
template <class T>
void sum_over_ranks([[maybe_unused]] std::vector<T>& v, [[maybe_unused]] const held_classes& h) {
#if UNITSFACE_CONFORMANCE_MPI
  if (h.sharded)
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), mpi_type<T>(), MPI_SUM,
                  world->comm());
#endif
}

#if UNITSFACE_CONFORMANCE_MPI
[[noreturn]] inline void device_memory_backend() {
  throw std::runtime_error("the MPI communicator needs a backend on host memory");
}
#endif

/// loss.forward over the held classes (through the ranks when sharded).
template <class Policy, class Loss, class T>
T shard_forward([[maybe_unused]] const held_classes& h, const Policy& pol, Loss& loss,
                matrix_view<const T> x, vector_view<const index_t> y, const references<T>& refs) {
#if UNITSFACE_CONFORMANCE_MPI
  if (h.sharded) {
    if constexpr (Policy::host_memory)
      return distributed::forward(*world, pol, loss, x, y, refs);
    else
      device_memory_backend();
  }
#endif
  return loss.forward(pol, x, y, refs);
}

/// loss.forward_backward over the held classes (through the ranks when sharded).
template <class Policy, class Loss, class T>
loss_result<T> shard_forward_backward([[maybe_unused]] const held_classes& h, const Policy& pol,
                                      Loss& loss, matrix_view<const T> x,
                                      vector_view<const index_t> y, const references<T>& refs,
                                      const gradients<T>& grads) {
#if UNITSFACE_CONFORMANCE_MPI
  if (h.sharded) {
    if constexpr (Policy::host_memory)
      return distributed::forward_backward(*world, pol, loss, x, y, refs, grads);
    else
      device_memory_backend();
  }
#endif
  return loss.forward_backward(pol, x, y, refs, grads);
}

/// An embedded step over the held classes: `weight` and `memory` hold them.
template <class Policy, class T, class S2C, class S2S>
embedded_result<T> shard_step([[maybe_unused]] const held_classes& h, const Policy& pol,
                              embedded_loss<T, S2C, S2S>& loss, matrix_view<const T> x,
                              vector_view<const index_t> y, matrix_view<const T> weight,
                              const gradients<T>& grads, feature_memory<T, Policy>& memory,
                              index_t epoch) {
#if UNITSFACE_CONFORMANCE_MPI
  if (h.sharded) {
    if constexpr (Policy::host_memory)
      return distributed::step(*world, pol, loss, x, y, weight, h.range, grads, memory, epoch);
    else
      device_memory_backend();
  }
#endif
  return loss.step(pol, x, y, weight, grads, memory, epoch);
}

/// The rows of the whole memory (C x D, host), from the held rows of every rank.
template <class T, class Policy>
std::vector<T> memory_rows(const Policy& pol, const feature_memory<T, Policy>& mem,
                           const held_classes& h) {
  const index_t n = mem.identities() * mem.dim();
  std::vector<T> rows(static_cast<std::size_t>(n));
  if (n > 0) backends::copy_to_host(pol, mem.rows().data, n, rows.data());
  return gather_rows(std::move(rows), h, mem.dim());
}

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
  const bool in_batch = !s2c && pairs == "in_batch";
  // The classes held: all, or this rank's shard (rows of the weights / memory / valid flags).
  const held_classes h = hold(C, !in_batch);
  const index_t rows = h.range.count;
  std::vector<T> ref_host =
      s2c ? flat<T>(c.at("weight")) : (in_batch ? std::vector<T>{} : flat<T>(c.at("memory")));
  if (!in_batch) ref_host = rows_of(std::move(ref_host), h, D);
  device_data<T, Policy> refs_buf(pol, ref_host);
  std::vector<unsigned char> valid_host;
  if (c.contains("valid")) {
    for (const auto& v : c.at("valid")) valid_host.push_back(v.get<bool>() ? 1 : 0);
    valid_host = rows_of(std::move(valid_host), h, 1);
  }
  device_data<unsigned char, Policy> valid(pol, valid_host);

  references<T> refs = references<T>::in_batch();
  if (s2c) {
    refs = references<T>::weights(matrix_view<const T>(refs_buf.data(), rows, D));
  } else if (!in_batch) {
    refs = references<T>::memory(matrix_view<const T>(refs_buf.data(), rows, D),
                                 valid_host.empty() ? nullptr : valid.data());
  }
  if (h.sharded) refs = refs.shard(h.range);
  device_data<T, Policy> gw(pol, s2c ? rows * D : 0);
  gradients<T> grads{matrix_view<T>(gx.data(), B, D),
                     s2c ? matrix_view<T>(gw.data(), rows, D) : matrix_view<T>{}};

  auto check_common = [&](const loss_result<T>& r) {
    rep.fields.push_back(
        {"loss", rel_error(std::vector<T>{r.loss}, flat<double>(ex.at("loss"))), tol.main});
    rep.fields.push_back(
        {"grad_input", rel_error(gx.host(), flat<double>(ex.at("grad_input"))), tol.main});
    if (s2c)
      rep.fields.push_back(
          {"grad_weight",
           rel_error(gather_rows(gw.host(), h, D), flat<double>(ex.at("grad_weight"))), tol.main});
  };

  if (kind == "cosface" || kind == "arcface" || kind == "combined_margin") {
    loss_result<T> r;
    if (kind == "cosface") {
      cosface_loss<T> L(cosface_options<T>(static_cast<T>(c.at("m").get<double>()), s));
      r = shard_forward_backward(h, pol, L, xv, yv, refs, grads);
    } else if (kind == "arcface") {
      const std::string g = c.at("gradient"), p = c.at("policy");
      const arcface_policy ap = p == "none"          ? arcface_policy::none
                                : p == "easy_margin" ? arcface_policy::easy_margin
                                                     : arcface_policy::classic_fallback;
      const arcface_gradient ag =
          g == "straight_through" ? arcface_gradient::straight_through : arcface_gradient::exact;
      arcface_loss<T> L(arcface_options<T>(static_cast<T>(c.at("m").get<double>()), ap, ag, s));
      r = shard_forward_backward(h, pol, L, xv, yv, refs, grads);
    } else {
      combined_margin_loss<T> L(combined_margin_options<T>(
          static_cast<T>(c.at("m1").get<double>()), static_cast<T>(c.at("m2").get<double>()),
          static_cast<T>(c.at("m3").get<double>()), s));
      r = shard_forward_backward(h, pol, L, xv, yv, refs, grads);
    }
    check_common(r);
  } else if (kind == "ss_softmax") {
    ss_softmax_options<T> o;
    o.s = s;
    o.m = static_cast<T>(c.at("m").get<double>());
    ss_softmax_loss<T> L(o);
    check_common(shard_forward_backward(h, pol, L, xv, yv, refs, grads));
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
      shard_forward(h, pol, L, xv, yv, refs);
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
    const loss_result<T> r = shard_forward_backward(h, pol, L, xv, yv, refs, grads);
    check_common(r);
    std::vector<T> grad_bias = r.grad_bias;  // a scalar bias's: whole on every rank
    if (per_column) sum_over_ranks(grad_bias, h);
    rep.fields.push_back({"grad_bias", rel_error(grad_bias, flat<double>(ex.at("grad_bias"))),
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
  const held_classes h = hold(C, true);
  feature_memory<T, Policy> mem(h.range, D, {}, pol);  // the held rows
  int k = 0;
  for (const auto& b : c.at("batches")) {
    std::vector<T> xh = flat<T>(b.at("input"));
    const index_t B = static_cast<index_t>(xh.size()) / D;
    device_data<T, Policy> x(pol, xh);
    device_data<index_t, Policy> y(pol, labels_of(b.at("labels")));
    mem.update(matrix_view<const T>(x.data(), B, D), vector_view<const index_t>(y.data(), B));
    rep.fields.push_back({"memory_after[" + std::to_string(k++) + "]",
                          rel_error(memory_rows(pol, mem, h), flat<double>(b.at("memory_after"))),
                          tol.memory});
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
  const held_classes h = hold(C, true);
  const index_t rows = h.range.count;
  feature_memory<T, Policy> mem(h.range, D, {}, pol);  // the held rows, as the weights
  device_data<T, Policy> w(pol, rows_of(flat<T>(c.at("weight")), h, D));
  bool initialised_earlier = false;
  int k = 0;
  for (const auto& st : c.at("steps")) {
    const std::string tag = "[" + std::to_string(k++) + "]";
    std::vector<T> xh = flat<T>(st.at("input"));
    const index_t B = static_cast<index_t>(xh.size()) / D;
    device_data<T, Policy> x(pol, xh);
    device_data<index_t, Policy> y(pol, labels_of(st.at("labels")));
    device_data<T, Policy> gx(pol, B * D), gw(pol, rows * D);
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
        shard_forward(h, pol, probe, xv, yv, mem.as_references());
        rep.fields.push_back(
            {"bias_used" + tag, rel_error(std::vector<T>{probe.bias()}, bu), tol.bias_official});
        from_init = initialised_earlier = true;
      } else {
        rep.fields.push_back({"bias_used" + tag, rel_error(std::vector<T>{u.bias()}, bu),
                              from_init ? tol.bias_official : tol.bias_other});
      }
      u.set_bias(static_cast<T>(bu[0]));  // evaluate at bias_used (README)
    }
    const loss_result<T> r = shard_step(
        h, pol, loss, xv, yv, matrix_view<const T>(w.data(), rows, D),
        gradients<T>{matrix_view<T>(gx.data(), B, D), matrix_view<T>(gw.data(), rows, D)}, mem,
        epoch);
    rep.fields.push_back(
        {"loss" + tag, rel_error(std::vector<T>{r.loss}, flat<double>(ex.at("loss"))), tol.main});
    rep.fields.push_back(
        {"grad_input" + tag, rel_error(gx.host(), flat<double>(ex.at("grad_input"))), tol.main});
    rep.fields.push_back(
        {"grad_weight" + tag,
         rel_error(gather_rows(gw.host(), h, D), flat<double>(ex.at("grad_weight"))), tol.main});
    if (ex.contains("grad_bias"))
      rep.fields.push_back({"grad_bias" + tag,
                            rel_error(r.grad_bias, flat<double>(ex.at("grad_bias"))),
                            from_init ? tol.bias_official : tol.bias_other});
    rep.fields.push_back({"memory_after" + tag,
                          rel_error(memory_rows(pol, mem, h), flat<double>(ex.at("memory_after"))),
                          tol.memory});
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

#if UNITSFACE_CONFORMANCE_MPI
/// Every rank's verdict on one case, the same on every rank: a field's error becomes the
/// largest over the ranks, and a case that failed on some rank fails everywhere, its error
/// naming those ranks.
void agree_over_ranks(case_report& rep) {
  const MPI_Comm comm = world->comm();
  const int ok = rep.passed() ? 1 : 0;
  std::vector<int> oks(static_cast<std::size_t>(world->size()));
  MPI_Allgather(&ok, 1, MPI_INT, oks.data(), 1, MPI_INT, comm);
  const int n = static_cast<int>(rep.fields.size());
  int fewest = 0, most = 0;
  MPI_Allreduce(&n, &fewest, 1, MPI_INT, MPI_MIN, comm);
  MPI_Allreduce(&n, &most, 1, MPI_INT, MPI_MAX, comm);
  if (fewest == most && n > 0) {  // the same fields everywhere: the worst error of each
    std::vector<double> errors;
    for (const auto& f : rep.fields) errors.push_back(std::isnan(f.error) ? INFINITY : f.error);
    MPI_Allreduce(MPI_IN_PLACE, errors.data(), n, MPI_DOUBLE, MPI_MAX, comm);
    for (int k = 0; k < n; ++k) rep.fields[static_cast<std::size_t>(k)].error = errors[k];
  }
  std::string failed_on;
  for (std::size_t r = 0; r < oks.size(); ++r)
    if (oks[r] == 0) failed_on += " " + std::to_string(r);
  if (!failed_on.empty())
    rep.error += (rep.error.empty() ? "" : "; ") + std::string("failed on rank(s)") + failed_on;
}

/// Reads and removes `--ranks N` (or `--ranks=N`) from the command line. Returns N, or -1
/// (with a message in `error`) when it is missing or not a positive number.
int take_ranks(int& argc, char** argv, std::string& error) {
  int ranks = -1, out = 1;
  bool seen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string value;
    if (a == "--ranks") {
      if (i + 1 >= argc) {
        error = "--ranks needs a value";
        return -1;
      }
      value = argv[++i];
    } else if (a.rfind("--ranks=", 0) == 0) {
      value = a.substr(8);
    } else {
      argv[out++] = argv[i];
      continue;
    }
    seen = true;
    char* end = nullptr;
    const long v = std::strtol(value.c_str(), &end, 10);
    ranks = (value.empty() || *end != '\0' || v <= 0 || v > 1 << 20) ? 0 : static_cast<int>(v);
    if (ranks == 0) {
      error = "--ranks: '" + value + "' is not a number of processes";
      return -1;
    }
  }
  argc = out;
  argv[argc] = nullptr;
  if (!seen) error = "--ranks N is required (N: the number of MPI processes)";
  return seen ? ranks : -1;
}
#endif

/// The runner; `rank` 0 prints (the only process without MPI).
int run_conformance(int argc, char** argv, [[maybe_unused]] int rank) {
  const bool speaker = rank == 0;
  unitsface::test::conformance_run run{UNITSFACE_DEFAULT_VECTORS_DIR, "eigen"};
#if UNITSFACE_CONFORMANCE_MPI
  std::string error;
  const int ranks = take_ranks(argc, argv, error);
  if (ranks < 0 || ranks != world->size()) {
    if (speaker) {
      if (ranks >= 0)
        error = "--ranks " + std::to_string(ranks) + " but " + std::to_string(world->size()) +
                " MPI process(es) (mpirun -np)";
      std::cerr << program << ": " << error << '\n';
    }
    return 2;
  }
  // The other ranks' messages (the same as rank 0's) are dropped.
  std::streambuf* const out = std::cout.rdbuf();
  std::streambuf* const err = std::cerr.rdbuf();
  if (!speaker) {
    std::cout.rdbuf(nullptr);
    std::cerr.rdbuf(nullptr);
  }
  const int started = unitsface::test::start_conformance(program, argc, argv, run);
  std::cout.rdbuf(out);
  std::cerr.rdbuf(err);
  if (started >= 0) return started;
  bool host_memory = false;
  unitsface::test::with_backend(run.backend, [&](const auto& pol) {
    host_memory = std::decay_t<decltype(pol)>::host_memory;
  });
  if (!host_memory) {
    if (speaker)
      std::cerr << program << ": backend '" << run.backend
                << "' keeps its data in device memory; the MPI communicator needs host memory\n";
    return 2;
  }
#else
  if (const int status = unitsface::test::start_conformance(program, argc, argv, run);
      status >= 0) {
    return status;
  }
#endif
  const std::string& backend = run.backend;
  const auto& files = run.files;
  const std::string& folder = run.folder;
  int passed = 0, failed = 0;
  if (speaker) {
    std::cout << program << ": " << files.size() << " case(s) in " << folder << ", backend "
              << backend;
#if UNITSFACE_CONFORMANCE_MPI
    std::cout << ", classes sharded over " << world->size() << " rank(s)";
#endif
    std::cout << '\n';
  }
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
#if UNITSFACE_CONFORMANCE_MPI
    agree_over_ranks(rep);
#endif
    const bool ok = rep.passed();
    (ok ? passed : failed) += 1;
    if (!speaker) continue;
    std::printf("%-4s %-52s", ok ? "PASS" : "FAIL", f.filename().string().c_str());
    for (const auto& fc : rep.fields)
      std::printf(" %s=%.2e%s", fc.field.c_str(), fc.error, fc.error <= fc.tolerance ? "" : "(!)");
    if (!rep.error.empty()) std::printf(" error: %s", rep.error.c_str());
    std::printf("\n");
  }
  if (speaker) return unitsface::test::finish_conformance(program, run, passed, failed);
  // The other ranks: finish_conformance's verdict, silently.
  const bool count_ok = run.expect_cases < 0 || static_cast<long>(files.size()) == run.expect_cases;
  return failed == 0 && !files.empty() && count_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
#if UNITSFACE_CONFORMANCE_MPI
  MPI_Init(&argc, &argv);
  int status = 0;
  {
    distributed::mpi_communicator comm;
    world = &comm;
    status = run_conformance(argc, argv, comm.rank());
    world = nullptr;
  }
  // Every rank exits with the worst status of all.
  int worst = 0;
  MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
#else
  return run_conformance(argc, argv, 0);
#endif
}
