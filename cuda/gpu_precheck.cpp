// The CUDA suites' precheck (tests/catch_main.cpp): exit with 77, CTest's SKIP_RETURN_CODE for
// these tests, when no CUDA device is present.
#include <cuda_runtime.h>

#include <cstdio>

extern "C" int unitsface_suite_precheck() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("no CUDA device: skipped");
    return 77;
  }
  return -1;
}
