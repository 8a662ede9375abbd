// The metrics conformance runner (tests/metrics/conformance_metrics.cpp) compiled by nvcc, so
// that its backend registry has the cuda backend: `conformance_metrics_cuda --backend cuda`
// checks the verification cases on the device path. Exits with 77 (skipped) when no CUDA
// device is present.
#include <cuda_runtime.h>

#include <cstdio>

#define main conformance_main
#include "conformance_metrics.cpp"
#undef main

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("conformance_metrics_cuda: no CUDA device: skipped");
    return 77;
  }
  return conformance_main(argc, argv);
}
