// One forward_backward of USS-m (a feature memory's rows and mirror, fixed bias) and CosFace (class
// weights, with the weight gradient) per backend, float, next to the products those calls cannot
// avoid (the floor) on the same backend. Shared by the CPU benchmark (bench_backends.cpp) and the
// CUDA one (bench_backends_cuda.cu). Names: <loss>/<backend>/B:<b>/C:<c> with D = 512, where
// <loss> is uss_memory, cosface_weights, floor2 (X W^T, G W), floor3 (and G^T X) or floor4
// (CosFace when its cosines exceed the default budget: X W^T twice). Counters: pairs/s, and for
// a loss `floor_ratio` (its time over its floor's, median of 3 measured in the same benchmark)
// and, for a backend whose products are not FP32 (cuda_policy's tf32, bf16), the relative
// error of its loss and input gradient against the FP32 reference backend.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../floor.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/workspace.hpp"
#include "unitsface/losses.hpp"

namespace unitsface::bench {

inline constexpr index_t dim = 512;

/// A seeded value in about [-2, 2] (the sum of four uniform variates from a hash of the
/// index: roughly normal), written where the data lives: a 2,000,000-class head has 10^9
/// weights, too many to draw on one host thread and copy.
struct fill_values {
  float* out;
  std::uint64_t seed;
  UNITSFACE_HD void operator()(index_t i) const {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * std::uint64_t(i + 1);
    float acc = 0.0f;
    for (int k = 0; k < 4; ++k) {
      z ^= z >> 30;
      z *= 0xBF58476D1CE4E5B9ull;
      z ^= z >> 27;
      z *= 0x94D049BB133111EBull;
      z ^= z >> 31;
      acc += float(z >> 40) * (1.0f / 16777216.0f) - 0.5f;
    }
    out[i] = 2.0f * acc;
  }
};
struct fill_labels {
  index_t* out;
  index_t C;
  UNITSFACE_HD void operator()(index_t i) const { out[i] = (i * 7919) % C; }
};

/// Inputs in the policy's memory: x (B x D), references (C x D), labels, gradients.
template <class Policy>
struct inputs {
  using buffer = decltype(backends::make_buffer<float>(std::declval<const Policy&>(), 0));
  using label_buffer = decltype(backends::make_buffer<index_t>(std::declval<const Policy&>(), 0));
  buffer x, refs, gx, gw, cos;
  label_buffer labels;
  index_t B, C;

  inputs(const Policy& pol, index_t batch, index_t classes) : B(batch), C(classes) {
    x = backends::make_buffer<float>(pol, B * dim);
    refs = backends::make_buffer<float>(pol, C * dim);
    gx = backends::make_buffer<float>(pol, B * dim);
    gw = backends::make_buffer<float>(pol, C * dim);
    labels = backends::make_buffer<index_t>(pol, B);
    backends::for_each_index(pol, B * dim, fill_values{backends::data_ptr(x), 7});
    backends::for_each_index(pol, C * dim, fill_values{backends::data_ptr(refs), 11});
    backends::for_each_index(pol, B, fill_labels{backends::data_ptr(labels), C});
  }
  matrix_view<const float> xv() const { return {backends::data_ptr(x), B, dim}; }
  matrix_view<const float> rv() const { return {backends::data_ptr(refs), C, dim}; }
  vector_view<const index_t> yv() const { return {backends::data_ptr(labels), B}; }
  matrix_view<float> gxv() { return {backends::data_ptr(gx), B, dim}; }
  matrix_view<float> gwv() { return {backends::data_ptr(gw), C, dim}; }

  /// The products of a call that has `products` of them (floor.hpp) into the full B x C
  /// matrix, ending with a read-back (which waits for a device's stream).
  void floor(const Policy& pol, int products) {
    if (backends::data_ptr(cos) == nullptr) cos = backends::make_buffer<float>(pol, B * C);
    floor_products(pol, xv(), rv(), matrix_view<float>(backends::data_ptr(cos), B, C), gxv(), gwv(),
                   products);
    float last = 0.0f;
    backends::copy_to_host(pol, backends::data_ptr(gx), 1, &last);
    benchmark::DoNotOptimize(last);
  }
};

/// The products CosFace with its weight gradient makes: 3 where the default budget keeps its
/// cosines (or one tile holds them), else 4 (the driver's rule, keeps_cosines, with the
/// policy's tile).
template <class Policy>
int cosface_products(index_t B, index_t C) {
  using driver = losses::detail::tile_driver<Policy, float>;
  const index_t tile = driver::tile_width(B, C, 0);
  return tile >= C ||
                 driver::keeps_cosines(B, C, tile, losses::evaluation_options{}.cosine_cache_bytes)
             ? 3
             : 4;
}

/// One call of `loss`: "uss_memory" (USS-m against the references as a feature memory holds
/// them: with their normalised mirror, made once as the memory keeps it on write) or
/// "cosface_weights".
template <class Policy>
struct case_runner {
  Policy pol;
  inputs<Policy>& in;
  losses::uss_loss<float> uss;
  losses::cosface_loss<float> cosface;
  typename inputs<Policy>::buffer unit;  // the references' normalised rows
  workspace ws;

  case_runner(const Policy& p, inputs<Policy>& i, bool mirror) : pol(p), in(i), uss(uss_options()) {
    uss.set_bias(20.0f);
    if (mirror) {
      unit = backends::make_buffer<float>(pol, in.C * dim);
      backends::normalize_rows(pol, in.rv(),
                               matrix_view<float>(backends::data_ptr(unit), in.C, dim),
                               static_cast<float*>(nullptr), losses::detail::normalize_eps<float>);
    }
  }
  static losses::binary_options<float> uss_options() {
    losses::binary_options<float> o;
    o.init = losses::bias_init::fixed;  // the steady state: the bias was initialised long ago
    return o;
  }
  /// The loss, its input gradient in in.gx. A host policy draws its scratch from a workspace
  /// kept across calls, as a training loop keeps it; a device policy from its own
  /// stream-ordered pool.
  float run(const std::string& loss) {
    if constexpr (Policy::host_memory) {
      return run_on(with_workspace(pol, ws), loss);
    } else {
      return run_on(pol, loss);
    }
  }
  template <class P>
  float run_on(const P& p, const std::string& loss) {
    if (loss == "uss_memory") {
      const losses::gradients<float> g{in.gxv(), {}};
      losses::references<float> refs = losses::references<float>::memory(in.rv());
      refs.unit_rows = matrix_view<const float>(backends::data_ptr(unit), in.C, dim);
      refs.rows_checked = true;
      return uss.forward_backward(p, in.xv(), in.yv(), refs, g).loss;
    }
    const losses::gradients<float> g{in.gxv(), in.gwv()};
    return cosface
        .forward_backward(p, in.xv(), in.yv(), losses::references<float>::weights(in.rv()), g)
        .loss;
  }
};

template <class Policy>
std::vector<float> download(const Policy& pol, const float* p, index_t n) {
  std::vector<float> h(static_cast<std::size_t>(n));
  backends::copy_to_host(pol, p, n, h.data());
  return h;
}

/// max_i |a_i - b_i| / max_i |b_i|
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

/// `reference`: an FP32 policy on the same memory to measure a reduced-precision one against,
/// or null.
template <class Policy>
void bench_case(benchmark::State& state, Policy pol, const Policy* reference, std::string loss,
                index_t B, index_t C) {
  inputs<Policy> in(pol, B, C);
  const int products = loss == "uss_memory"        ? 2
                       : loss == "cosface_weights" ? cosface_products<Policy>(B, C)
                                                   : loss[5] - '0';
  if (loss.rfind("floor", 0) == 0) {
    for (auto _ : state) in.floor(pol, products);
  } else {
    const bool mirror = loss == "uss_memory";
    case_runner<Policy> r(pol, in, mirror);
    if (reference != nullptr) {
      case_runner<Policy> ref(*reference, in, mirror);
      const float want = ref.run(loss);
      const auto want_gx = download(pol, backends::data_ptr(in.gx), B * dim);
      const float got = r.run(loss);
      const auto got_gx = download(pol, backends::data_ptr(in.gx), B * dim);
      state.counters["loss_rel_err"] =
          std::abs(double(got) - double(want)) / std::abs(double(want));
      state.counters["grad_rel_err"] = relative_error(got_gx, want_gx);
    }
    double total = 0.0;
    for (auto _ : state) {
      total += seconds([&] { benchmark::DoNotOptimize(r.run(loss)); });  // the loss read back
    }
    const double per = total / double(std::max<benchmark::IterationCount>(state.iterations(), 1));
    state.counters["floor_ratio"] = per / median_of_3([&] { in.floor(pol, products); });
  }
  state.counters["pairs/s"] =
      benchmark::Counter(static_cast<double>(B * C), benchmark::Counter::kIsIterationInvariantRate);
}

struct shape {
  index_t B, C;
};

/// Registers the losses and their floors for `pol` at each shape, as
/// "<loss>/<backend>/B:<b>/C:<c>"; `reference` as in bench_case.
template <class Policy>
void register_backend(const Policy& pol, const std::string& backend,
                      const std::vector<shape>& shapes, const Policy* reference = nullptr) {
  for (const shape& s : shapes) {
    const std::string suffix =
        "/" + backend + "/B:" + std::to_string(s.B) + "/C:" + std::to_string(s.C);
    const std::string floor_cosface = "floor" + std::to_string(cosface_products<Policy>(s.B, s.C));
    for (const std::string& loss : {std::string("uss_memory"), std::string("floor2"),
                                    std::string("cosface_weights"), floor_cosface}) {
      benchmark::RegisterBenchmark((loss + suffix).c_str(), bench_case<Policy>, pol, reference,
                                   loss, s.B, s.C)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace unitsface::bench
