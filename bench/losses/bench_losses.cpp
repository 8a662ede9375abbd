// Google Benchmark: one forward_backward (loss, input gradient, weight gradient) per loss, at
// B = 256, D = 512 and C = 10,000 / 50,000 identities, float, with the Eigen and the generic
// host policies. Items/s counts cosines (B x C) a second.
#include <benchmark/benchmark.h>

#include "common.hpp"

namespace {
using namespace unitsface;

template <class Policy>
void bm_loss(benchmark::State& state, const char* loss) {
  bench::inputs in = bench::make_inputs(256, state.range(0), 512, 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(bench::run_loss(Policy{}, loss, in, 30.f));
  }
  state.SetItemsProcessed(state.iterations() * in.B * in.C);
}

void bm_uss_eigen(benchmark::State& s) {
  bm_loss<eigen_policy>(s, "uss");
}
void bm_cosface_eigen(benchmark::State& s) {
  bm_loss<eigen_policy>(s, "cosface");
}
void bm_uss_host(benchmark::State& s) {
  bm_loss<host_policy>(s, "uss");
}

}  // namespace

BENCHMARK(bm_uss_eigen)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_cosface_eigen)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);
// The generic loops, for scale: why a backend overrides gemm.
BENCHMARK(bm_uss_host)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_MAIN();
