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
// Kernels are its for_each_index and reduce_index: plain loops over a functor copied onto
// the stack, as a CUDA kernel's parameters are. Each for_each_index kernel runs twice, in
// opposite index orders, and must give the same bits both times (order_check): on a GPU its
// indices run concurrently, so a result that depends on their order is a data race. Everything else
// (products, normalisation) falls back to the generic primitives written on them. Each device
// buffer ends at a page boundary with the next page inaccessible, so a kernel that writes past a
// buffer's end also crashes. Not covered: a functor holding a pointer into the host stack or static
// storage.
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

}  // namespace unitsface::test::simulated

namespace unitsface::test {

/// Execution in simulated device memory (see the file comment).
struct simulated_device_policy {
  static constexpr bool host_memory = false;
  static constexpr const char* name = "simulated_device";

  /// Runs the kernel twice, in increasing and then decreasing index order, and checks that
  /// both give the same result (simulated::order_check).
  template <class F>
  void for_each_index(index_t n, F f) const {
    simulated::order_check check;
    {
      simulated::kernel_scope k;
      for (index_t i = 0; i < n; ++i) f(i);
    }
    check.between_runs();
    {
      simulated::kernel_scope k;
      for (index_t i = n; i-- > 0;) f(i);
    }
    check.finish(typeid(F).name());
  }
  template <class Acc, class F>
  Acc reduce_index(index_t n, F f) const {
    simulated::count_launch();
    Acc acc = Acc(0);
    {
      simulated::kernel_scope k;
      for (index_t i = 0; i < n; ++i) acc += static_cast<Acc>(f(i));
    }
    return acc;
  }
  template <class T>
  simulated::device_buffer<T> make_buffer(index_t n) const {
    return simulated::device_buffer<T>(n);
  }
  template <class T>
  void copy_to_host(const T* src, index_t n, T* dst) const {
    if (n <= 0) return;
    simulated::transfer_scope t;
    std::memcpy(static_cast<void*>(dst), src, static_cast<std::size_t>(n) * sizeof(T));
  }
  template <class T>
  void copy_from_host(const T* src, index_t n, T* dst) const {
    if (n <= 0) return;
    simulated::transfer_scope t;
    std::memcpy(static_cast<void*>(dst), src, static_cast<std::size_t>(n) * sizeof(T));
  }
};

}  // namespace unitsface::test
