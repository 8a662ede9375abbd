// Every CUDA test of the loss module in one translation unit: the loss suites of tests/losses
// (gradchecks, properties, bad input, extremes, determinism, API coverage), the cross-backend
// agreement of tests/backends, the loss conformance runner of tests/losses as a test case, and
// consume.cu's instantiation of every loss.
//
// Why one unit: they all instantiate the same loss kernels for cuda_policy, and nvcc compiles
// a kernel's device code (cicc, then ptxas: about half of a unit's time) once per unit that
// instantiates it. Four units compiled the same kernels four times.
//
// Test cases are selected by tag (cuda/CMakeLists.txt): [conformance], [agreement], and the
// rest.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_case.hpp"
#include "conformance_run.hpp"
#include "unitsface/backends/primitives.hpp"
#include "unitsface/losses.hpp"

#include "test_api_coverage.cpp"
#include "test_bad_input.cpp"
#include "test_determinism.cpp"
#include "test_extremes.cpp"
#include "test_gradcheck_losses.cpp"
#include "test_losses.cpp"
#include "test_properties.cpp"
#include "test_sharded.cpp"

#include "test_agreement.cpp"

// Every loss instantiated for float and double on cuda_policy, as a user's .cu unit would.
#include "consume.cu"

// The conformance runner's own main, renamed, in a namespace of its own (its helpers are in
// an unnamed namespace, whose names could meet the suites' here). Every header it includes
// is included above, so its #include lines inside the namespace add nothing.
namespace conformance_losses_unit {
#define main conformance_main
#include "conformance_losses.cpp"
#undef main
}  // namespace conformance_losses_unit

#ifndef UNITSFACE_CUDA_CONFORMANCE_CASES
#define UNITSFACE_CUDA_CONFORMANCE_CASES -1
#endif

TEST_CASE("every loss case of the reference vectors on the cuda backend", "[conformance]") {
  CHECK(unitsface::test::run_cuda_conformance(conformance_losses_unit::conformance_main,
                                              "conformance_losses",
                                              UNITSFACE_CUDA_CONFORMANCE_CASES) == 0);
}
