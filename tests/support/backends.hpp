// Test support: the execution policy a test executable is built for, chosen by the
// compile definition UNITSFACE_TEST_BACKEND_<NAME> (cmake/backends.cmake), and helpers that
// move test data to and from that policy's memory so that one test source serves host and
// device backends alike.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/view.hpp"

#if defined(UNITSFACE_TEST_BACKEND_CUDA)
#include "unitsface/backends/cuda.hpp"
namespace unitsface::test {
using policy_type = cuda_policy;
inline constexpr const char* backend_name = "cuda";
}  // namespace unitsface::test
#elif defined(UNITSFACE_TEST_BACKEND_SIMULATED_DEVICE)
#include "simulated_device.hpp"
namespace unitsface::test {
using policy_type = simulated_device_policy;
inline constexpr const char* backend_name = "simulated_device";
}  // namespace unitsface::test
#elif defined(UNITSFACE_TEST_BACKEND_THRUST_OMP)
#include "unitsface/backends/thrust.hpp"
namespace unitsface::test {
using policy_type = thrust_omp_policy;
inline constexpr const char* backend_name = "thrust_omp";
}  // namespace unitsface::test
#elif defined(UNITSFACE_TEST_BACKEND_THRUST_CPP)
#include "unitsface/backends/thrust.hpp"
namespace unitsface::test {
using policy_type = thrust_cpp_policy;
inline constexpr const char* backend_name = "thrust_cpp";
}  // namespace unitsface::test
#elif defined(UNITSFACE_TEST_BACKEND_XTENSOR)
#include "unitsface/backends/xtensor.hpp"
namespace unitsface::test {
using policy_type = xtensor_policy;
inline constexpr const char* backend_name = "xtensor";
}  // namespace unitsface::test
#elif defined(UNITSFACE_TEST_BACKEND_EIGEN)
#include "unitsface/backends/eigen.hpp"
namespace unitsface::test {
using policy_type = eigen_policy;
inline constexpr const char* backend_name = "eigen";
}  // namespace unitsface::test
#elif defined(UNITSFACE_TEST_BACKEND_HOST)
namespace unitsface::test {
using policy_type = host_policy;
inline constexpr const char* backend_name = "host";
}  // namespace unitsface::test
#else
#error "tests/support/backends.hpp: no UNITSFACE_TEST_BACKEND_<NAME> definition"
#endif

namespace unitsface::test {

inline const policy_type& policy() {
  static const policy_type p{};
  return p;
}

/// A copy of host data in the test policy's memory.
template <class T>
auto upload(const std::vector<T>& host) {
  auto buf = backends::make_buffer<T>(policy(), static_cast<index_t>(host.size()));
  backends::copy_from_host(policy(), host.data(), static_cast<index_t>(host.size()),
                           backends::data_ptr(buf));
  return buf;
}

/// A host copy of n elements of the policy's memory.
template <class T>
std::vector<T> download(const T* p, index_t n) {
  std::vector<T> host(static_cast<std::size_t>(n));
  backends::copy_to_host(policy(), p, n, host.data());
  return host;
}
template <class Buf>
auto download(const Buf& b) {
  using T = std::remove_cv_t<std::remove_pointer_t<decltype(backends::data_ptr(b))>>;
  return download<T>(backends::data_ptr(b), static_cast<index_t>(b.size()));
}

}  // namespace unitsface::test
