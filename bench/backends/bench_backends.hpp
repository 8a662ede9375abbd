// One forward_backward of USS (memory references) and CosFace (class weights) per backend,
// float, at a training size: B = 256 anchors of D = 512 against C references. Shared by the
// CPU benchmark (bench_backends.cpp) and the CUDA one (bench_backends_cuda.cu).
#pragma once

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/losses.hpp"

namespace unitsface::bench {

inline constexpr index_t batch = 256;
inline constexpr index_t dim = 512;

/// Inputs in the policy's memory: x (B x D), references (C x D), labels, gradients.
template <class T, class Policy>
struct inputs {
  using buffer = decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0));
  using label_buffer = decltype(backends::make_buffer<index_t>(std::declval<const Policy&>(), 0));
  buffer x, refs, gx, gw;
  label_buffer labels;
  index_t C;

  inputs(const Policy& pol, index_t classes) : C(classes) {
    std::mt19937 gen(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<T> xh(static_cast<std::size_t>(batch * dim)), rh(static_cast<std::size_t>(C * dim));
    for (T& v : xh) v = static_cast<T>(normal(gen));
    for (T& v : rh) v = static_cast<T>(normal(gen));
    std::vector<index_t> yh(static_cast<std::size_t>(batch));
    for (index_t i = 0; i < batch; ++i) yh[static_cast<std::size_t>(i)] = (i * 7919) % C;
    x = backends::make_buffer<T>(pol, batch * dim);
    refs = backends::make_buffer<T>(pol, C * dim);
    gx = backends::make_buffer<T>(pol, batch * dim);
    gw = backends::make_buffer<T>(pol, C * dim);
    labels = backends::make_buffer<index_t>(pol, batch);
    backends::copy_from_host(pol, xh.data(), batch * dim, backends::data_ptr(x));
    backends::copy_from_host(pol, rh.data(), C * dim, backends::data_ptr(refs));
    backends::copy_from_host(pol, yh.data(), batch, backends::data_ptr(labels));
  }
  matrix_view<const T> xv() const { return {backends::data_ptr(x), batch, dim}; }
  matrix_view<const T> rv() const { return {backends::data_ptr(refs), C, dim}; }
  vector_view<const index_t> yv() const { return {backends::data_ptr(labels), batch}; }
};

template <class T, class Policy>
void uss_memory(benchmark::State& state, Policy pol, index_t C) {
  inputs<T, Policy> in(pol, C);
  losses::binary_options<T> o;
  o.init = losses::bias_init::fixed;  // the steady state: the bias was initialised long ago
  losses::uss_loss<T> loss(o);
  loss.set_bias(T(20));
  const losses::gradients<T> g{matrix_view<T>(backends::data_ptr(in.gx), batch, dim), {}};
  for (auto _ : state) {
    auto r =
        loss.forward_backward(pol, in.xv(), in.yv(), losses::references<T>::memory(in.rv()), g);
    benchmark::DoNotOptimize(r.loss);
  }
  state.counters["pairs/s"] = benchmark::Counter(static_cast<double>(batch * C),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

template <class T, class Policy>
void cosface_weights(benchmark::State& state, Policy pol, index_t C) {
  inputs<T, Policy> in(pol, C);
  losses::cosface_loss<T> loss(losses::cosface_options<T>());
  const losses::gradients<T> g{matrix_view<T>(backends::data_ptr(in.gx), batch, dim),
                               matrix_view<T>(backends::data_ptr(in.gw), C, dim)};
  for (auto _ : state) {
    auto r =
        loss.forward_backward(pol, in.xv(), in.yv(), losses::references<T>::weights(in.rv()), g);
    benchmark::DoNotOptimize(r.loss);
  }
  state.counters["pairs/s"] = benchmark::Counter(static_cast<double>(batch * C),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

/// Registers both losses for `pol` at each class count, as "<loss>/<backend>/C:<n>".
template <class Policy>
void register_backend(const Policy& pol, const std::vector<index_t>& class_counts) {
  for (index_t C : class_counts) {
    const std::string suffix = std::string("/") + Policy::name + "/C:" + std::to_string(C);
    benchmark::RegisterBenchmark(("uss_memory" + suffix).c_str(), uss_memory<float, Policy>, pol, C)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("cosface_weights" + suffix).c_str(),
                                 cosface_weights<float, Policy>, pol, C)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

}  // namespace unitsface::bench
