// unitsface: the communicator concept of class-sharded losses, the single-process
// communicator, and the adapter that hands any communicator to the losses.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstring>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/collective.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/policy.hpp"

namespace unitsface::distributed {

/// What a class-sharded loss needs of a communication engine: its rank and size, and an
/// all-gather of equal byte counts in rank order, on buffers in the memory the engine works
/// on (`host_memory`: true for CPU buffers, false for device buffers) and on host buffers.
/// Implementations: single_process (this header), mpi_communicator (distributed/mpi.hpp),
/// nccl_communicator (distributed/nccl.hpp).
template <class C>
concept communicator = requires(C& c, const C& cc, const void* send, void* recv, std::size_t n) {
  { cc.rank() } -> std::convertible_to<int>;
  { cc.size() } -> std::convertible_to<int>;
  { C::host_memory } -> std::convertible_to<bool>;
  c.all_gather(send, recv, n);
  c.all_gather_host(send, recv, n);
};

/// A communicator that works on the memory a policy addresses.
template <class C, class Policy>
concept communicator_for = communicator<C> &&(C::host_memory == Policy::host_memory);

namespace detail {
struct copy_bytes {
  const unsigned char* src;
  unsigned char* dst;
  UNITSFACE_HD void operator()(index_t i) const { dst[i] = src[i]; }
};
}  // namespace detail

/// One process holding every class, on the memory of `Policy`: the loss calls of
/// unitsface::distributed then run the sharded code path (its exchanges are copies, made by
/// the policy) and equal the plain calls.
template <class Policy = host_policy>
class single_process {
 public:
  static constexpr bool host_memory = Policy::host_memory;
  explicit single_process(const Policy& pol = Policy{}) : pol_(pol) {}
  int rank() const { return 0; }
  int size() const { return 1; }
  void all_gather(const void* send, void* recv, std::size_t bytes) {
    backends::for_each_index(pol_, static_cast<index_t>(bytes),
                             detail::copy_bytes{static_cast<const unsigned char*>(send),
                                                static_cast<unsigned char*>(recv)});
  }
  void all_gather_host(const void* send, void* recv, std::size_t bytes) {
    if (bytes > 0) std::memcpy(recv, send, bytes);
  }

 private:
  Policy pol_;
};

/// Wraps a communicator and accounts for its traffic: the calls, the bytes received and the
/// wall time spent in its collectives (the communication share of a step, as the sharded
/// example prints it).
template <communicator C>
class metered {
 public:
  static constexpr bool host_memory = C::host_memory;
  explicit metered(C& inner) : inner_(&inner) {}
  int rank() const { return inner_->rank(); }
  int size() const { return inner_->size(); }
  void all_gather(const void* send, void* recv, std::size_t bytes) {
    timed(bytes, [&] { inner_->all_gather(send, recv, bytes); });
  }
  void all_gather_host(const void* send, void* recv, std::size_t bytes) {
    timed(bytes, [&] { inner_->all_gather_host(send, recv, bytes); });
  }
  std::size_t calls() const { return calls_; }
  /// Bytes this rank received, its own part included (size() x the bytes sent per call).
  std::size_t bytes_received() const { return bytes_; }
  double seconds() const { return seconds_; }
  void reset() {
    calls_ = bytes_ = 0;
    seconds_ = 0.0;
  }

 private:
  template <class F>
  void timed(std::size_t bytes, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++calls_;
    bytes_ += bytes * static_cast<std::size_t>(inner_->size());
  }
  C* inner_;
  std::size_t calls_ = 0, bytes_ = 0;
  double seconds_ = 0.0;
};

namespace detail {
/// A communicator seen through the losses' type-erased interface (core/collective.hpp).
template <communicator C>
class collective_adapter final : public collective {
 public:
  explicit collective_adapter(C& c) : c_(&c) {}
  int rank() const override { return c_->rank(); }
  int size() const override { return c_->size(); }
  void all_gather(const void* send, void* recv, std::size_t bytes) override {
    c_->all_gather(send, recv, bytes);
  }
  void all_gather_host(const void* send, void* recv, std::size_t bytes) override {
    c_->all_gather_host(send, recv, bytes);
  }

 private:
  C* c_;
};
}  // namespace detail

}  // namespace unitsface::distributed
