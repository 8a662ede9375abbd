// The loss conformance runner (tests/losses/conformance_losses.cpp) compiled by nvcc, so
// that its backend registry has the cuda backend: `conformance_losses_cuda --backend cuda`.
// Exits with 77 (skipped) when no CUDA device is present.
#include <cuda_runtime.h>

#include <cstdio>

#define main conformance_main
#include "conformance_losses.cpp"
#undef main

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("conformance_losses_cuda: no CUDA device: skipped");
    return 77;
  }
  return conformance_main(argc, argv);
}
