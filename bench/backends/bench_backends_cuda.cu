// Backends benchmark (CUDA): one forward_backward of USS and CosFace on the device, float,
// B = 256, D = 512, C = 10,000 and 100,000. Each call ends with the loss read back, so the
// time covers the whole device work. Exits with 77 when no CUDA device is present.
#include <cuda_runtime.h>

#include <cstdio>

#include "bench_backends.hpp"
#include "unitsface/backends/cuda.hpp"

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("bench_backends_cuda: no CUDA device: skipped");
    return 77;
  }
  unitsface::bench::register_backend(unitsface::cuda_policy{}, {10000, 100000});
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
