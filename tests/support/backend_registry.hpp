// Test support: every backend this build has, selectable by name at run time (the
// conformance runners' --backend option).
#pragma once

#include <string>
#include <vector>

#include "unitsface/core/policy.hpp"
#if defined(UNITSFACE_WITH_EIGEN)
#include "unitsface/backends/eigen.hpp"
#endif

namespace unitsface::test {

/// The names of the backends built into this executable.
inline std::vector<std::string> built_backends() {
  std::vector<std::string> names{"host"};
#if defined(UNITSFACE_WITH_EIGEN)
  names.push_back("eigen");
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
  return false;
}

}  // namespace unitsface::test
