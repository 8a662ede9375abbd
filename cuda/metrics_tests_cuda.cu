// Every CUDA test of the metrics module in one translation unit: the device verification suite
// of tests/metrics, the metrics conformance runner as a test case, and the protocols
// conformance runner (tests/protocols: the similarity tiles by cuBLAS) as another. Both instantiate
// the same device kernels (the sorts and scans of metrics/device/), whose device code nvcc compiles
// once per unit that instantiates them (cuda/loss_tests_cuda.cu says more).
//
// Test cases are selected by tag (cuda/CMakeLists.txt): [conformance], [protocols] and the rest.
// The [protocols] tag also holds all_pairs with its tiles counted by the CUDA kernel
// (protocols/all_pairs_device.hpp) against the same tiles copied to the host.
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
#include "unitsface/protocols/all_pairs_device.hpp"

#include "all_pairs_device_cases.hpp"
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

TEMPLATE_TEST_CASE(
    "all_pairs on the cuda backend: the tiles counted on the device equal the "
    "tiles counted on the host, for every tile shape",
    "[protocols][all_pairs]", float, double) {
  namespace apd = unitsface::test::all_pairs_device;
  const unitsface::cuda_policy pol{};
  STATIC_REQUIRE(
      unitsface::protocols::detail::device_pair_reduction<unitsface::cuda_policy>::value);
  apd::device_equals_host<TestType>(pol, apd::labelled_set(11, 40, 2, 0.8));
  apd::device_equals_host<TestType>(pol, apd::labelled_set(12, 45, 16, 0.7));
  // Larger than a block of the kernel in both directions, and many impostors above the
  // lowest genuine score (16 dimensions, wide clusters): the atomics' path.
  apd::device_equals_host<TestType>(pol, apd::labelled_set(14, 400, 16, 1.5), 3);
}
