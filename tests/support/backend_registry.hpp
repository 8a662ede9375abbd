// Test support: every backend this build has, selectable by name at run time (the
// conformance runners' --backend option).
#pragma once

#include <string>
#include <vector>

#include "unitsface/core/policy.hpp"
#if defined(UNITSFACE_WITH_EIGEN)
#include "unitsface/backends/eigen.hpp"
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
#include "unitsface/backends/xtensor.hpp"
#endif
#if defined(UNITSFACE_WITH_THRUST_CPP) || defined(UNITSFACE_WITH_THRUST_OMP)
#include "unitsface/backends/thrust.hpp"
#endif
#if defined(UNITSFACE_WITH_SIMULATED_DEVICE)
#include "simulated_device.hpp"
#endif
#if defined(UNITSFACE_WITH_CUDA)
#include "unitsface/backends/cuda.hpp"
#endif

namespace unitsface::test {

/// The names of the backends built into this executable.
inline std::vector<std::string> built_backends() {
  std::vector<std::string> names{"host"};
#if defined(UNITSFACE_WITH_EIGEN)
  names.push_back("eigen");
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  names.push_back("xtensor");
#endif
#if defined(UNITSFACE_WITH_THRUST_CPP)
  names.push_back("thrust_cpp");
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
  names.push_back("thrust_omp");
#endif
#if defined(UNITSFACE_WITH_SIMULATED_DEVICE)
  names.push_back("simulated_device");
#endif
#if defined(UNITSFACE_WITH_CUDA)
  names.push_back("cuda");
#endif
  return names;
}

/// Calls f(policy) for the backend called `name`; false when it is not built.
template <class F>
bool with_backend(const std::string& name, F&& f) {
  if (name == "host") {
    f(host_policy{});
    return true;
  }
#if defined(UNITSFACE_WITH_EIGEN)
  if (name == "eigen") {
    f(eigen_policy{});
    return true;
  }
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  if (name == "xtensor") {
    f(xtensor_policy{});
    return true;
  }
#endif
#if defined(UNITSFACE_WITH_THRUST_CPP)
  if (name == "thrust_cpp") {
    f(thrust_cpp_policy{});
    return true;
  }
#endif
#if defined(UNITSFACE_WITH_THRUST_OMP)
  if (name == "thrust_omp") {
    f(thrust_omp_policy{});
    return true;
  }
#endif
#if defined(UNITSFACE_WITH_SIMULATED_DEVICE)
  if (name == "simulated_device") {
    f(simulated_device_policy{});
    return true;
  }
#endif
#if defined(UNITSFACE_WITH_CUDA)
  if (name == "cuda") {
    f(cuda_policy{});  // the default stream
    return true;
  }
#endif
  return false;
}

}  // namespace unitsface::test
