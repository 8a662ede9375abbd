// Every CUDA test of the metrics module in one translation unit: the device verification suite
// of tests/metrics, the metrics conformance runner as a test case, and the protocols
// conformance runner (tests/protocols: the similarity tiles by cuBLAS) as another. Both instantiate the
// same device kernels (the sorts and scans of metrics/device/), whose device code nvcc
// compiles once per unit that instantiates them (cuda/loss_tests_cuda.cu says more).
//
// Test cases are selected by tag (cuda/CMakeLists.txt): [conformance], [protocols] and the rest.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_case.hpp"
#include "conformance_run.hpp"
#include "unitsface/metrics.hpp"
#include "unitsface/metrics/device/verification.hpp"
#include "unitsface/protocols.hpp"

#include "test_device_verification.cpp"

// The conformance runner's own main, renamed, in a namespace of its own; every header it
// includes is included above.
namespace conformance_metrics_unit {
#define main conformance_main
#include "conformance_metrics.cpp"
#undef main
}  // namespace conformance_metrics_unit

namespace conformance_protocols_unit {
#define main conformance_main
#include "conformance_protocols.cpp"
#undef main
}  // namespace conformance_protocols_unit

#ifndef UNITSFACE_CUDA_CONFORMANCE_CASES
#define UNITSFACE_CUDA_CONFORMANCE_CASES -1
#endif

TEST_CASE("every metrics case of the reference vectors on the cuda backend", "[conformance]") {
  CHECK(unitsface::test::run_cuda_conformance(conformance_metrics_unit::conformance_main,
                                              "conformance_metrics",
                                              UNITSFACE_CUDA_CONFORMANCE_CASES) == 0);
}

#ifndef UNITSFACE_CUDA_PROTOCOL_CASES
#define UNITSFACE_CUDA_PROTOCOL_CASES -1
#endif

TEST_CASE("every protocol case of the reference vectors on the cuda backend", "[protocols]") {
  CHECK(unitsface::test::run_cuda_conformance(conformance_protocols_unit::conformance_main,
                                              "conformance_protocols",
                                              UNITSFACE_CUDA_PROTOCOL_CASES) == 0);
}
