// Every CUDA test of the loss module in one translation unit: the loss suites of tests/losses
// (gradchecks, properties, bad input, extremes, determinism, API coverage), the cross-backend
// agreement of tests/backends, the loss conformance runner of tests/losses as a test case, and
// consume.cu's instantiation of every loss.
//
// Why one unit: they all instantiate the same loss kernels for cuda_policy, and nvcc compiles
// a kernel's device code (cicc, then ptxas: about half of a unit's time) once per unit that
// instantiates it. Four units compiled the same kernels four times.
//
// Test cases are selected by tag (cuda/CMakeLists.txt): [conformance], [agreement], and the
// rest.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_case.hpp"
#include "conformance_run.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/losses.hpp"

#include "test_api_coverage.cpp"
#include "test_bad_input.cpp"
#include "test_determinism.cpp"
#include "test_extremes.cpp"
#include "test_gradcheck_losses.cpp"
#include "test_losses.cpp"
#include "test_properties.cpp"
#include "test_sharded.cpp"

#include "test_agreement.cpp"

// Every loss instantiated for float and double on cuda_policy, as a user's .cu unit would.
#include "consume.cu"

// The conformance runner's own main, renamed, in a namespace of its own (its helpers are in
// an unnamed namespace, whose names could meet the suites' here). Every header it includes
// is included above, so its #include lines inside the namespace add nothing.
namespace conformance_losses_unit {
#define main conformance_main
#include "conformance_losses.cpp"
#undef main
}  // namespace conformance_losses_unit

#ifndef UNITSFACE_CUDA_CONFORMANCE_CASES
#define UNITSFACE_CUDA_CONFORMANCE_CASES -1
#endif

TEST_CASE("every loss case of the reference vectors on the cuda backend", "[conformance]") {
  CHECK(unitsface::test::run_cuda_conformance(conformance_losses_unit::conformance_main,
                                              "conformance_losses",
                                              UNITSFACE_CUDA_CONFORMANCE_CASES) == 0);
}

// cuda_policy's reduced-precision products (product_precision): CosFace with its weight
// gradient through TF32 and BF16 tensor-core products stays close to the FP32 products'
// result. A cosine's error is about 2^-11 (TF32) or 2^-8 (BF16) of its operands' norms; at
// s = 64 that moves the softmax's probabilities by up to a few percent (TF32) or tens of
// percent (BF16), so the bounds are loose: they catch a wrong product (operands mapped wrongly,
// a wrong compute type), not a change in rounding.
TEST_CASE("cuda_policy: TF32 and BF16 products give FP32's loss and gradients closely",
          "[losses][cuda][precision]") {
  using namespace unitsface;
  const index_t B = 64, C = 1000, D = 128;
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> xh(std::size_t(B * D)), wh(std::size_t(C * D));
  for (float& v : xh) v = normal(gen);
  for (float& v : wh) v = normal(gen);
  std::vector<index_t> yh(static_cast<std::size_t>(B));
  for (index_t i = 0; i < B; ++i) yh[std::size_t(i)] = (i * 37) % C;
  const cuda_policy fp32{};
  auto x = backends::make_buffer<float>(fp32, B * D);
  auto w = backends::make_buffer<float>(fp32, C * D);
  auto y = backends::make_buffer<index_t>(fp32, B);
  auto gx = backends::make_buffer<float>(fp32, B * D);
  auto gw = backends::make_buffer<float>(fp32, C * D);
  backends::copy_from_host(fp32, xh.data(), B * D, backends::data_ptr(x));
  backends::copy_from_host(fp32, wh.data(), C * D, backends::data_ptr(w));
  backends::copy_from_host(fp32, yh.data(), B, backends::data_ptr(y));
  const matrix_view<const float> xv(backends::data_ptr(x), B, D), wv(backends::data_ptr(w), C, D);
  const vector_view<const index_t> yv(backends::data_ptr(y), B);
  const losses::gradients<float> g(matrix_view<float>(backends::data_ptr(gx), B, D),
                                   matrix_view<float>(backends::data_ptr(gw), C, D));
  losses::cosface_loss<float> loss;
  const auto run = [&](const cuda_policy& pol, std::vector<float>& grad) {
    const float l =
        loss.forward_backward(pol, xv, yv, losses::references<float>::weights(wv), g).loss;
    grad.resize(std::size_t(B * D));
    backends::copy_to_host(pol, backends::data_ptr(gx), B * D, grad.data());
    return l;
  };
  std::vector<float> g32, g_tf32, g_bf16;
  const float l32 = run(fp32, g32);
  const float l_tf32 = run(cuda_policy({nullptr, product_precision::tf32}), g_tf32);
  const float l_bf16 = run(cuda_policy({nullptr, product_precision::bf16}), g_bf16);
  const auto rel = [&](const std::vector<float>& a) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      diff = std::max(diff, std::abs(double(a[i]) - double(g32[i])));
      scale = std::max(scale, std::abs(double(g32[i])));
    }
    return diff / scale;
  };
  INFO("loss fp32 " << l32 << ", tf32 " << l_tf32 << ", bf16 " << l_bf16 << "; gradient error tf32 "
                    << rel(g_tf32) << ", bf16 " << rel(g_bf16));
  CHECK(std::abs(l_tf32 - l32) <= 1e-2 * std::abs(l32));
  CHECK(std::abs(l_bf16 - l32) <= 5e-2 * std::abs(l32));
  CHECK(rel(g_tf32) <= 0.1);
  CHECK(rel(g_bf16) <= 0.5);
}

// cuda_policy's memory (backends/cuda.hpp): a loss call's buffers and Thrust's temporary
// storage come from unitsface's pool, which keeps what they freed (its release threshold)
// until release_cached_memory() returns it; the device's default pool is not used.
TEST_CASE("cuda_policy: a call's memory comes from unitsface's pool, kept until released",
          "[losses][cuda][memory]") {
  using namespace unitsface;
  const index_t B = 32, C = 3000, D = 64;
  const cuda_policy pol{};
  std::vector<float> xh(std::size_t(B * D)), wh(std::size_t(C * D));
  for (std::size_t i = 0; i < xh.size(); ++i) xh[i] = float((i * 7) % 13) - 6.0f;
  for (std::size_t i = 0; i < wh.size(); ++i) wh[i] = float((i * 5) % 11) - 5.0f;
  std::vector<index_t> yh(static_cast<std::size_t>(B));
  for (index_t i = 0; i < B; ++i) yh[std::size_t(i)] = (i * 91) % C;
  int dev = 0;
  REQUIRE(cudaGetDevice(&dev) == cudaSuccess);
  cudaMemPool_t default_pool = nullptr;
  REQUIRE(cudaDeviceGetDefaultMemPool(&default_pool, dev) == cudaSuccess);
  const auto reserved = [](cudaMemPool_t p) {
    std::uint64_t v = 0;
    REQUIRE(cudaMemPoolGetAttribute(p, cudaMemPoolAttrReservedMemCurrent, &v) == cudaSuccess);
    return v;
  };
  const std::uint64_t default_before = reserved(default_pool);
  float l = 0;
  {
    auto x = backends::make_buffer<float>(pol, B * D);
    auto w = backends::make_buffer<float>(pol, C * D);
    auto y = backends::make_buffer<index_t>(pol, B);
    auto gx = backends::make_buffer<float>(pol, B * D);
    backends::copy_from_host(pol, xh.data(), B * D, backends::data_ptr(x));
    backends::copy_from_host(pol, wh.data(), C * D, backends::data_ptr(w));
    backends::copy_from_host(pol, yh.data(), B, backends::data_ptr(y));
    losses::cosface_loss<float> loss;
    l = loss.forward_backward(
                pol, matrix_view<const float>(backends::data_ptr(x), B, D),
                vector_view<const index_t>(backends::data_ptr(y), B),
                losses::references<float>::weights(
                    matrix_view<const float>(backends::data_ptr(w), C, D)),
                losses::gradients<float>(matrix_view<float>(backends::data_ptr(gx), B, D)))
            .loss;
  }
  REQUIRE(cudaStreamSynchronize(nullptr) == cudaSuccess);
  CHECK(std::isfinite(l));
  const cudaMemPool_t ours = backends::cuda_detail::memory_pool(dev);
  CHECK(ours != default_pool);
  CHECK(reserved(default_pool) == default_before);
  CHECK(reserved(ours) > 0);  // freed by the call, kept across the synchronisation
  std::uint64_t used = 1;
  REQUIRE(cudaMemPoolGetAttribute(ours, cudaMemPoolAttrUsedMemCurrent, &used) == cudaSuccess);
  CHECK(used == 0);  // every buffer and temporary was given back
  release_cached_memory();
  CHECK(reserved(ours) == 0);
}
