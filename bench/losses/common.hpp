// Shared by the loss benchmarks: seeded inputs and one forward_backward call per loss.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "unitsface/backends/eigen.hpp"
#include "unitsface/losses.hpp"

namespace unitsface::bench {

struct inputs {
  index_t B, C, D;
  std::vector<float> x, refs, grad_x, grad_w;
  std::vector<index_t> y;
};

inline inputs make_inputs(index_t B, index_t C, index_t D, std::uint64_t seed) {
  inputs in{B, C, D, {}, {}, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n01(0.f, 1.f);
  std::uniform_int_distribution<index_t> lab(0, C - 1);
  in.x.resize(static_cast<std::size_t>(B * D));
  in.refs.resize(static_cast<std::size_t>(C * D));
  for (float& v : in.x) v = n01(rng);
  for (float& v : in.refs) v = n01(rng);
  for (index_t i = 0; i < B; ++i) in.y.push_back(lab(rng));
  in.grad_x.resize(in.x.size());
  in.grad_w.resize(in.refs.size());
  return in;
}

/// "uss": official USS-m over the memory at a fixed bias; "cosface": CosFace over learnable
/// weights. Returns the loss. `memory`: USS-m's references (a feature_memory's, with its
/// normalised mirror) instead of the raw rows of `in`.
template <class Policy>
float run_loss(const Policy& pol, const std::string& loss, inputs& in, float bias,
               const losses::references<float>* memory = nullptr) {
  matrix_view<const float> x(in.x.data(), in.B, in.D);
  vector_view<const index_t> y(in.y.data(), in.B);
  matrix_view<const float> r(in.refs.data(), in.C, in.D);
  matrix_view<float> gx(in.grad_x.data(), in.B, in.D);
  if (loss == "uss") {
    losses::uss_loss<float> L;
    {
      auto o = L.opts();
      o.init = losses::bias_init::fixed;
      L.set_options(o);
    }
    L.set_bias(bias);
    return L
        .forward_backward(
            pol, x, y, memory != nullptr ? *memory : losses::references<float>::memory(r), {gx, {}})
        .loss;
  }
  losses::cosface_loss<float> L;
  return L
      .forward_backward(pol, x, y, losses::references<float>::weights(r),
                        {gx, matrix_view<float>(in.grad_w.data(), in.C, in.D)})
      .loss;
}

}  // namespace unitsface::bench
