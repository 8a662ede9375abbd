// unitsface_bench: the losses on every CPU backend built, each next to its product floor
// (Google Benchmark). Names are <loss>/<backend>/<dtype>/<B>/<C>/<D>:
//   uss      USS-m (per pair, official clamp, fixed bias) over a feature_memory (its
//            normalised mirror), input gradient;
//   cosface  CosFace over class weights, input and weight gradients;
//   embedded the UniTSFace step: CosFace over class weights (input and weight gradients) +
//            USS-m over a feature_memory of C identities (its mirror), then the memory written;
//   floor2, floor3, floor5
//            the matrix products those calls cannot avoid, by the backend's own gemm:
//            X W^T (B x C) and G W (B x D); and G^T X (C x D) for the weight gradient; for the
//            embedded step, CosFace's three and USS-m's two.
// Each loss call draws its scratch from a workspace kept across the iterations, as a training
// loop keeps it (one untimed call first). Times are the calls' own (manual time: Google
// Benchmark appends `/manual_time` to the names). Counters: GFLOP/s of the products (2 B C D
// per product), and for a loss `floor_ratio`: each iteration times the loss, then its floor,
// and the median of the iterations' ratios is reported.
//
//   unitsface_bench [--benchmark_filter=REGEX] [--benchmark_min_time=SECONDS]
// Measure with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (docs/benchmarks.md); the context
// printed first names OpenBLAS's kernel.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "floor.hpp"
#include "unitsface/core/workspace.hpp"
#include "unitsface/losses.hpp"
#if defined(UNITSFACE_WITH_EIGEN)
#include "unitsface/backends/eigen.hpp"
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
#include "unitsface/backends/xtensor.hpp"
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
#include "unitsface/backends/thrust.hpp"
#endif

// OpenBLAS's build and the kernel it chose for this CPU, printed with the benchmark's context:
// a CPU newer than the library runs its generic kernels (Debian bookworm's 0.3.21 takes a
// Xeon of family 6, model 207 for a Prescott: products at a quarter of their AVX-512 speed),
// which moves every floor. Weak: null where the products come from another BLAS.
extern "C" char* openblas_get_corename() __attribute__((weak));
extern "C" char* openblas_get_config() __attribute__((weak));

namespace {
using namespace unitsface;
using namespace unitsface::losses;

template <class T>
struct problem {
  index_t B, C, D;
  std::vector<T> x, w, gx, gw, cos;
  std::vector<index_t> y;
};

template <class T>
problem<T> make_problem(index_t B, index_t C, index_t D) {
  problem<T> p{B, C, D, {}, {}, {}, {}, {}, {}};
  std::mt19937_64 rng(42);
  std::normal_distribution<T> n01(T(0), T(1));
  p.x.resize(std::size_t(B * D));
  p.w.resize(std::size_t(C * D));
  for (T& v : p.x) v = n01(rng);
  for (T& v : p.w) v = n01(rng);
  for (index_t i = 0; i < B; ++i) p.y.push_back((i * 7919) % C);
  p.gx.resize(p.x.size());
  p.gw.resize(p.w.size());
  return p;
}

// The products of a call that has `products` of them (floor.hpp), with the full B x C matrix.
template <class T, class Policy>
void floor_products(const Policy& pol, problem<T>& p, int products) {
  p.cos.resize(std::size_t(p.B * p.C));
  bench::floor_products(
      pol, matrix_view<const T>(p.x.data(), p.B, p.D), matrix_view<const T>(p.w.data(), p.C, p.D),
      matrix_view<T>(p.cos.data(), p.B, p.C), matrix_view<T>(p.gx.data(), p.B, p.D),
      matrix_view<T>(p.gw.data(), p.C, p.D), products);
}

template <class T, class Policy>
void bench_case(benchmark::State& state, Policy pol, std::string loss, index_t B, index_t C,
                index_t D) {
  problem<T> p = make_problem<T>(B, C, D);
  const bool is_floor = loss.rfind("floor", 0) == 0;
  const int products = loss == "uss" || loss == "floor2"        ? 2
                       : loss == "embedded" || loss == "floor5" ? 5
                                                                : 3;
  workspace ws;
  const auto pooled = with_workspace(pol, ws);
  const matrix_view<const T> x(p.x.data(), B, D), w(p.w.data(), C, D);
  const vector_view<const index_t> y(p.y.data(), B);
  // USS-m's memory, written once (load), with its normalised mirror.
  const bool with_memory = loss == "uss" || loss == "embedded";
  using pooled_policy = std::decay_t<decltype(pooled)>;
  feature_memory<T, pooled_policy> memory(with_memory ? C : 1, D, {}, pooled);
  if (with_memory) memory.load(p.w, std::vector<unsigned char>(std::size_t(C), 1));
  binary_options<T> uo;
  uo.init = bias_init::fixed;
  uss_loss<T> uss(uo);
  uss.set_bias(T(30));
  cosface_loss<T> cosface;
  embedded_loss<T> embedded(cosface, uss);
  const gradients<T> g_in(matrix_view<T>(p.gx.data(), B, D));
  const gradients<T> g_both(matrix_view<T>(p.gx.data(), B, D), matrix_view<T>(p.gw.data(), C, D));
  auto call = [&] {
    if (is_floor) {
      floor_products(pol, p, products);
    } else if (loss == "uss") {
      benchmark::DoNotOptimize(uss.forward_backward(pooled, x, y, memory.as_references(), g_in));
    } else if (loss == "embedded") {
      benchmark::DoNotOptimize(embedded.step(pooled, x, y, w, g_both, memory, 1));
    } else {
      benchmark::DoNotOptimize(
          cosface.forward_backward(pooled, x, y, references<T>::weights(w), g_both));
    }
  };
  // One call before the timing: the workspace's buffers exist and are touched, as in a
  // training loop's later steps (the first call's page faults are the allocation's).
  call();
  if (!is_floor) floor_products(pol, p, products);
  // Each iteration times the call and, for a loss, its floor right after it: the ratio of
  // each pair is taken and the median of those reported, so that the machine's drift (a
  // shared VM's neighbours) moves both sides of a ratio alike.
  double total = 0.0;
  std::vector<double> ratios;
  for (auto _ : state) {
    const double t = bench::seconds(call);
    state.SetIterationTime(t);
    total += t;
    if (!is_floor) ratios.push_back(t / bench::seconds([&] { floor_products(pol, p, products); }));
  }
  const double per = total / double(std::max<benchmark::IterationCount>(state.iterations(), 1));
  const double flops = 2.0 * double(B) * double(C) * double(D) * products;
  state.counters["GFLOP/s"] = flops / per * 1e-9;
  if (!ratios.empty()) state.counters["floor_ratio"] = bench::median(std::move(ratios));
}

template <class Policy>
void register_backend(const Policy& pol, const char* backend) {
  struct shape {
    index_t B, C, D;
  };
  const shape shapes[] = {
      {512, 85742, 512}, {512, 10572, 512}, {128, 10572, 512}, {128, 1000, 128}};
  for (const char* loss : {"uss", "floor2", "cosface", "floor3", "embedded", "floor5"}) {
    for (const char* dtype : {"float", "double"}) {
      for (const shape& s : shapes) {
        const std::string name = std::string(loss) + "/" + backend + "/" + dtype + "/" +
                                 std::to_string(s.B) + "/" + std::to_string(s.C) + "/" +
                                 std::to_string(s.D);
        auto* b = std::string(dtype) == "float"
                      ? benchmark::RegisterBenchmark(name.c_str(), bench_case<float, Policy>, pol,
                                                     std::string(loss), s.B, s.C, s.D)
                      : benchmark::RegisterBenchmark(name.c_str(), bench_case<double, Policy>, pol,
                                                     std::string(loss), s.B, s.C, s.D);
        b->UseManualTime()->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
#if defined(UNITSFACE_WITH_EIGEN)
  register_backend(eigen_par, "eigen");
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  register_backend(xtensor_policy{}, "xtensor");
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
  register_backend(thrust_omp_policy{}, "thrust_omp");
#endif
  if (openblas_get_corename != nullptr && openblas_get_config != nullptr) {
    benchmark::AddCustomContext(
        "openblas", std::string(openblas_get_config()) + " | core " + openblas_get_corename());
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
