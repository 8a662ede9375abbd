// Catch2's main for the CUDA suites: exits with 77 (CTest's SKIP_RETURN_CODE for these tests)
// when no CUDA device is present, since Catch2 2.13 cannot skip a test itself.
#define CATCH_CONFIG_RUNNER
#include <cuda_runtime.h>

#include <catch2/catch.hpp>
#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("no CUDA device: skipped");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
