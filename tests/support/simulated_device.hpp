// Test support: a CPU policy whose memory is kept apart from the host's, as a GPU's is, so
// that the device code paths of the library run — and are checked — without a GPU.
//
// A CUDA build only fails at run time in two ways the compiler cannot see: host code that
// dereferences device memory (a crash), and a kernel that reads host memory through a
// pointer it was handed (an illegal-address error). `simulated_device_policy` makes both
// crash here, deterministically, with a message saying which:
//
//   - its buffers (make_buffer) live in a region of address space that is inaccessible
//     (PROT_NONE) except while one of its kernels or copies runs;
//   - the program's heap (every operator new, so every std::vector, std::string, ...) is
//     placed in a second region that is made inaccessible while a kernel runs
//     (simulated_device.cpp replaces the global operator new for the executables that
//     link this backend).
//
// The policy is thrust_policy (backends/thrust.hpp) over a Thrust system of its own, the way
// cuda_policy is thrust_policy over Thrust's CUDA system: the library's code for a device
// Thrust system is the code that runs here, the losses' kernels (for_each_index,
// reduce_index) and the device metrics' sorts, scans and compactions alike. Kernels are the
// Thrust algorithms called with the system's execution policy, run on the CPU with the
// functor copied onto the stack, as a CUDA kernel's parameters are. Each thrust::for_each
// kernel runs twice, in opposite index orders, and must give the same bits both times
// (order_check): on a GPU its indices run concurrently, so a result that depends on their
// order is a data race. The products fall back to the generic kernel (cuBLAS on CUDA). Each
// device buffer ends at a page boundary with the next page inaccessible, so a kernel that
// writes past a buffer's end also crashes. Not covered: a functor holding a pointer into the
// host stack or static storage; memory that Thrust's own algorithms allocate for themselves
// (malloc, not operator new).
//
// Linux only (mmap, mprotect, sigaction). Single-threaded use: the access switches are
// process-wide.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <thrust/binary_search.h>
#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/for_each.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/system/cpp/execution_policy.h>
#include <thrust/transform_reduce.h>

#include "unitsface/backends/thrust.hpp"
#include "unitsface/core/config.hpp"

namespace unitsface::test::simulated {

/// Device memory: `bytes` bytes, page-aligned at the end, inaccessible outside kernels and
/// copies. Throws std::bad_alloc when the region is exhausted.
void* device_allocate(std::size_t bytes);
void device_free(void* p) noexcept;

/// RAII phases. A kernel: device memory accessible, the heap not. A transfer: both.
class kernel_scope {
 public:
  kernel_scope();
  ~kernel_scope();
  kernel_scope(const kernel_scope&) = delete;
  kernel_scope& operator=(const kernel_scope&) = delete;
};
class transfer_scope {
 public:
  transfer_scope();
  ~transfer_scope();
  transfer_scope(const transfer_scope&) = delete;
  transfer_scope& operator=(const transfer_scope&) = delete;
};

/// How many kernels have been launched (for tests of the simulator itself).
std::size_t kernels_run() noexcept;
void count_launch() noexcept;

/// Checks that a kernel's result does not depend on the order of its indices: the contents
/// of every live device buffer are saved, the kernel runs in increasing index order, its
/// result is set aside and the buffers restored, it runs again in decreasing order, and
/// the two results must be identical to the bit. A kernel where two indices write the same
/// element, or one reads what another writes, is a data race on a GPU; with floating-point
/// data the two orders then (almost always) differ.
class order_check {
 public:
  /// Saves the buffers. Device memory stays accessible until the check ends (kernels run
  /// inside it close the heap only), which keeps the access switches to a few per launch.
  order_check();
  /// After the first run: keeps its result and restores the buffers as they were.
  void between_runs();
  /// After the second run: throws std::logic_error naming `kernel` if the results differ.
  void finish(const char* kernel);

 private:
  transfer_scope open_;
  std::vector<unsigned char> before_, first_;
};

/// A readable name for a functor type (its demangled name).
std::string type_name(const char* mangled);

/// An owning, zeroed buffer of device memory. Copies are deep (device to device).
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(index_t n) : n_(n) {
    if (n_ > 0) {
      p_ = static_cast<T*>(device_allocate(bytes()));
      transfer_scope t;
      std::memset(static_cast<void*>(p_), 0, bytes());
    }
  }
  device_buffer(const device_buffer& o) : n_(o.n_) {
    if (n_ > 0) {
      p_ = static_cast<T*>(device_allocate(bytes()));
      transfer_scope t;
      std::memcpy(static_cast<void*>(p_), o.p_, bytes());
    }
  }
  device_buffer(device_buffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  device_buffer& operator=(device_buffer o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~device_buffer() {
    if (p_ != nullptr) device_free(p_);
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return static_cast<std::size_t>(n_); }
  bool empty() const { return n_ == 0; }

 private:
  std::size_t bytes() const { return static_cast<std::size_t>(n_) * sizeof(T); }
  T* p_ = nullptr;
  index_t n_ = 0;
};

/// The Thrust system of the simulated device: `system` names it (thrust_system_traits is
/// specialised for it below), `exec_policy` is the execution policy its traits hand to Thrust.
/// The policy derives from Thrust's sequential CPP system, and the algorithms the library
/// calls with it are overloaded here (Thrust dispatches on the policy's type through
/// argument-dependent lookup), so that each one runs as a kernel: for_each in both index
/// orders under order_check, the others once under a kernel_scope, on the CPP system.
/// Algorithms that Thrust builds on for_each (fill, transform, ...) become for_each kernels
/// by themselves. Any other algorithm (unique, say) runs as host code and crashes on the
/// device memory it is handed, which is how a new algorithm in the library shows up here.
struct system {};
struct exec_policy : thrust::system::cpp::execution_policy<exec_policy> {};

/// A kernel of the simulated device: thrust::for_each. Runs twice, in increasing and then
/// decreasing index order, and checks that both give the same result (order_check).
template <class It, class F>
It for_each(exec_policy&, It first, It last, F f) {
  using distance = decltype(last - first);
  const distance n = last - first;
  order_check check;
  {
    kernel_scope k;
    for (distance i = 0; i < n; ++i) f(first[i]);
  }
  check.between_runs();
  {
    kernel_scope k;
    for (auto i = n; i-- > 0;) f(first[i]);
  }
  check.finish(typeid(F).name());
  return last;
}

/// thrust::transform_reduce: one kernel, its result returned to the host.
template <class It, class Op, class T, class Plus>
T transform_reduce(exec_policy&, It first, It last, Op op, T init, Plus plus) {
  count_launch();
  kernel_scope k;
  for (It i = first; i != last; ++i) init = plus(init, op(*i));
  return init;
}

// The sort-based algorithms of metrics/device/roc_points.hpp: each one call of the CPP
// system's algorithm, counted as one launch and run with the heap closed.
#define UNITSFACE_SIMULATED_KERNEL(algorithm)                          \
  template <class... A>                                                \
  decltype(auto) algorithm(exec_policy&, A&&... a) {                   \
    count_launch();                                                    \
    kernel_scope k;                                                    \
    return thrust::algorithm(thrust::cpp::par, std::forward<A>(a)...); \
  }
UNITSFACE_SIMULATED_KERNEL(sort_by_key)
UNITSFACE_SIMULATED_KERNEL(reduce_by_key)
UNITSFACE_SIMULATED_KERNEL(inclusive_scan)
UNITSFACE_SIMULATED_KERNEL(count_if)
UNITSFACE_SIMULATED_KERNEL(copy_if)
UNITSFACE_SIMULATED_KERNEL(lower_bound)
#undef UNITSFACE_SIMULATED_KERNEL

}  // namespace unitsface::test::simulated

namespace unitsface {

/// The simulated device as a system of thrust_policy (backends/thrust.hpp), beside the
/// CPP, OMP and CUDA systems: the library's Thrust code paths for a system whose memory is
/// not the host's run here exactly as they do for CUDA, up to the products (the generic
/// kernel here, cuBLAS there) and the buffers.
template <>
struct thrust_system_traits<test::simulated::system> {
  static constexpr const char* name = "simulated_device";
  static constexpr bool host_memory = false;
  struct state {};

  static test::simulated::exec_policy exec(const state&) { return {}; }
  static test::simulated::exec_policy reduce_exec(const state&) { return {}; }

  template <class T>
  static test::simulated::device_buffer<T> make_buffer(const state&, index_t n) {
    return test::simulated::device_buffer<T>(n);
  }
  template <class T>
  static void copy_to_host(const state&, const T* src, index_t n, T* dst) {
    transfer(src, n, dst);
  }
  // The loss driver's row segments as CUDA's (backends/cuda.hpp), so that the segmented row
  // passes the GPU runs run here, under the order check.
  static index_t row_segments(index_t, index_t cols) { return backends::device_row_segments(cols); }
  template <class T>
  static void copy_from_host(const state&, const T* src, index_t n, T* dst) {
    transfer(src, n, dst);
  }

 private:
  // Either direction: one memcpy with both memories open.
  template <class T>
  static void transfer(const T* src, index_t n, T* dst) {
    if (n <= 0) return;
    test::simulated::transfer_scope t;
    std::memcpy(static_cast<void*>(dst), src, static_cast<std::size_t>(n) * sizeof(T));
  }
};

namespace test {
/// Execution in simulated device memory (see the file comment).
using simulated_device_policy = thrust_policy<simulated::system>;
}  // namespace test

}  // namespace unitsface
