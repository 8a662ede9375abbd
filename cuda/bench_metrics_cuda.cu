// The verification summary at IJB-C size on the CUDA policy (default stream): see
// bench/metrics/bench_metrics_device.hpp. Each call ends with its results on the host, so the
// time covers the whole device work and the read-backs. Exits with 77 without a CUDA device.
#include <cuda_runtime.h>

#include <cstdio>

#include "bench_metrics_device.hpp"
#include "unitsface/backends/cuda.hpp"

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("bench_metrics_cuda: no CUDA device: skipped");
    return 77;
  }
  unitsface::bench::register_metrics_backend(unitsface::cuda_policy{});
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
