// The CUDA benchmarks' first step: without a CUDA device they say so and exit with 77, the
// status the CUDA test suites give for "skipped" (cuda/gpu_precheck.cpp) and bench/gpu/check.sh
// reads as such.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>

namespace unitsface::bench {

/// Whether a CUDA device is visible; if none, prints "<program>: no CUDA device: skipped".
inline bool cuda_device_present(const char* program) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0) return true;
  std::printf("%s: no CUDA device: skipped\n", program);
  return false;
}

}  // namespace unitsface::bench
