// unitsface: the Thrust backend — one policy template for every Thrust system.
//
// `thrust_policy<System>` runs the primitives with Thrust algorithms on the system whose tag
// it is given: for_each_index is thrust::for_each over a counting iterator, reduce_index is
// thrust::transform_reduce, buffers are the system's vectors. The loss functors are the same
// host/device structs every backend runs. Named instances:
//
//   thrust_cpp   thrust::system::cpp (sequential host code)
//   thrust_omp   thrust::system::omp (OpenMP threads; needs -fopenmp)
//   cuda_policy  thrust::system::cuda, with a stream and cuBLAS products (backends/cuda.hpp,
//                nvcc only)
//
// The CPU systems compile with g++ or clang from the CUDA toolkit's CCCL headers, without
// nvcc. Without nvcc Thrust's default device system (CUDA) cannot compile, so this header
// selects the CPP device system unless the build chose one (the CMake targets define it).
// The CPU systems send their matrix products to BLAS when built with UNITSFACE_USE_CBLAS
// (the CMake targets are, when OpenBLAS is installed), else to the generic loops (parallel
// over rows under OpenMP).
//
// `unitsface::thrust_adapt` views Thrust containers (host_vector, device_vector, system
// vectors) and device pointers as matrix_view / vector_view without copying.
#pragma once

#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_CPP
#endif

#if defined(UNITSFACE_USE_CBLAS)
#include "unitsface/backends/cblas.hpp"
#endif
#include <thrust/device_ptr.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cpp/vector.h>
#include <thrust/transform_reduce.h>

#include <string>
#include <string_view>
#include <type_traits>

#if defined(_OPENMP)
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>
#endif

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface {

namespace backends::thrust_detail {

/// f(i) converted to the accumulator type: transform_reduce's unary operation.
template <class F, class Acc>
struct as_acc {
  F f;
  UNITSFACE_HD Acc operator()(index_t i) const { return static_cast<Acc>(f(i)); }
};

/// The sum of f over block b of `blocks` equal blocks of [0, n), into out[b].
template <class F, class Acc>
struct block_sum {
  F f;
  index_t n, blocks;
  Acc* out;
  UNITSFACE_HD void operator()(index_t b) const {
    Acc acc = Acc(0);
    for (index_t i = n * b / blocks; i < n * (b + 1) / blocks; ++i) acc += static_cast<Acc>(f(i));
    out[b] = acc;
  }
};

}  // namespace backends::thrust_detail

/// What thrust_policy needs to know about a Thrust system: its name, whether its memory is
/// host memory, its execution policy, its buffers. Specialised for each system below (and
/// for CUDA in backends/cuda.hpp). `state` is per-policy data (the CUDA stream).
template <class System>
struct thrust_system_traits;

namespace backends::thrust_detail {
/// What the CPU systems share: no state, and matrix products through BLAS when the program
/// links one (UNITSFACE_USE_CBLAS; the CMake targets define it when OpenBLAS is installed).
/// gemm returning false sends views without a unit stride to the generic loops.
struct host_system_traits {
  static constexpr bool host_memory = true;
  struct state {};
#if defined(UNITSFACE_USE_CBLAS)
  template <class T>
  static bool gemm(const state&, T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
                   matrix_view<T> c) {
    return blas::gemm(alpha, a, b, beta, c);
  }
#endif
};
}  // namespace backends::thrust_detail

template <>
struct thrust_system_traits<thrust::system::cpp::tag>
    : backends::thrust_detail::host_system_traits {
  static constexpr const char* name = "thrust_cpp";
  static auto exec(const state&) { return thrust::system::cpp::tag{}; }
  static auto reduce_exec(const state&) { return thrust::system::cpp::tag{}; }
  template <class T>
  static auto make_buffer(const state&, index_t n) {
    return thrust::system::cpp::vector<T>(static_cast<std::size_t>(n));  // value-initialised
  }
};

#if defined(_OPENMP)
template <>
struct thrust_system_traits<thrust::system::omp::tag>
    : backends::thrust_detail::host_system_traits {
  static constexpr const char* name = "thrust_omp";
  static auto exec(const state&) { return thrust::system::omp::tag{}; }
  static auto reduce_exec(const state&) { return thrust::system::omp::tag{}; }
  template <class T>
  static auto make_buffer(const state&, index_t n) {
    // Constructed (zeroed) by the OpenMP threads that will touch it (first touch).
    return thrust::system::omp::vector<T>(static_cast<std::size_t>(n));
  }
  /// Sums in a fixed number of blocks (thrust::for_each), added in order on the host: the
  /// result does not depend on the thread count. (thrust::transform_reduce on the OMP
  /// system also binds a reference to a null pointer inside Thrust, which UBSan reports.)
  template <class Acc, class F>
  static Acc reduce(const state& s, index_t n, F f) {
    const index_t blocks = n < 64 ? n : 64;
    Acc partial[64];
    thrust::for_each(exec(s), thrust::counting_iterator<index_t>(0),
                     thrust::counting_iterator<index_t>(blocks),
                     backends::thrust_detail::block_sum<F, Acc>{f, n, blocks, partial});
    Acc acc = Acc(0);
    for (index_t b = 0; b < blocks; ++b) acc += partial[b];
    return acc;
  }
};
#endif

/// Execution on a Thrust system (see the file comment). Copyable and cheap: it holds only
/// the system's state (nothing for the CPU systems, the stream for CUDA).
template <class System>
struct thrust_policy {
  using system = System;
  using traits = thrust_system_traits<System>;
  using state_type = typename traits::state;

  static constexpr const char* name = traits::name;
  static constexpr bool host_memory = traits::host_memory;
  /// The loss tiles' default size in cosines (backends::default_tile_elements): the system's
  /// where its traits give one, else 0 (the library's default).
  static constexpr index_t default_tile_elements = [] {
    if constexpr (requires { traits::default_tile_elements; }) {
      return index_t(traits::default_tile_elements);
    } else {
      return index_t(0);
    }
  }();

  state_type state{};

  thrust_policy() = default;
  explicit thrust_policy(const state_type& s) : state(s) {}

  template <class F>
  void for_each_index(index_t n, F f) const {
    thrust::for_each(traits::exec(state), thrust::counting_iterator<index_t>(0),
                     thrust::counting_iterator<index_t>(n), f);
  }

  template <class Acc, class F>
  Acc reduce_index(index_t n, F f) const {
    if constexpr (requires { traits::template reduce<Acc>(state, n, f); }) {
      return traits::template reduce<Acc>(state, n, f);
    }
    return thrust::transform_reduce(
        traits::reduce_exec(state), thrust::counting_iterator<index_t>(0),
        thrust::counting_iterator<index_t>(n), backends::thrust_detail::as_acc<F, Acc>{f}, Acc(0),
        thrust::plus<Acc>());
  }

  template <class T>
  auto make_buffer(index_t n) const {
    return traits::template make_buffer<T>(state, n);
  }
  /// A buffer the caller writes before it reads (backends::make_uninitialized_scratch): not
  /// zero-filled where the system can skip that (CUDA); make_buffer's zeros elsewhere.
  template <class T>
  auto make_uninitialized_scratch(index_t n) const {
    if constexpr (requires { traits::template make_uninitialized_buffer<T>(state, n); }) {
      return traits::template make_uninitialized_buffer<T>(state, n);
    } else {
      return traits::template make_buffer<T>(state, n);
    }
  }

  // Copies and products: the system's own when its traits have them (CUDA), else the
  // generic host ones (memcpy, loops over for_each_index).
  template <class T>
  void copy_to_host(const T* src, index_t n, T* dst) const {
    if constexpr (requires { traits::copy_to_host(state, src, n, dst); }) {
      traits::copy_to_host(state, src, n, dst);
    } else {
      backends::generic::copy_to_host(*this, src, n, dst);
    }
  }
  template <class T>
  void copy_from_host(const T* src, index_t n, T* dst) const {
    if constexpr (requires { traits::copy_from_host(state, src, n, dst); }) {
      traits::copy_from_host(state, src, n, dst);
    } else {
      backends::generic::copy_from_host(*this, src, n, dst);
    }
  }
  // Row normalisation and the driver's row segments: the system's own where its traits
  // have them (CUDA: a warp per row), else the generic ones (backends/primitives.hpp).
  template <class T>
  requires requires(const state_type& s, matrix_view<const T> in, matrix_view<T> out, T* n, T e) {
    traits::normalize_rows(s, in, out, n, e);
  }
  void normalize_rows(matrix_view<const T> in, matrix_view<T> out, T* norms, T eps) const {
    traits::normalize_rows(state, in, out, norms, eps);
  }
  template <class T>
  requires requires(const state_type& s, matrix_view<const T> xhat, const T* n,
                    matrix_view<const T> g, matrix_view<T> out, T e, bool acc) {
    traits::normalize_rows_backward(s, xhat, n, g, out, e, acc);
  }
  void normalize_rows_backward(matrix_view<const T> xhat, const T* norms, matrix_view<const T> g,
                               matrix_view<T> out, T eps, bool accumulate) const {
    traits::normalize_rows_backward(state, xhat, norms, g, out, eps, accumulate);
  }
  index_t row_segments(index_t rows, index_t cols) const requires requires(index_t r, index_t c) {
    traits::row_segments(r, c);
  }
  { return traits::row_segments(rows, cols); }

  template <class T>
  void gemm(T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
            matrix_view<T> c) const {
    if constexpr (requires { traits::gemm(state, alpha, a, b, beta, c); }) {
      if (traits::gemm(state, alpha, a, b, beta, c)) return;
    }
    backends::generic::gemm(*this, alpha, a, b, beta, c);
  }
};

/// Sequential Thrust (the CPP system).
using thrust_cpp_policy = thrust_policy<thrust::system::cpp::tag>;
inline const thrust_cpp_policy thrust_cpp{};

#if defined(_OPENMP)
/// OpenMP Thrust (the OMP system): the CPU fallback of the CUDA backend.
using thrust_omp_policy = thrust_policy<thrust::system::omp::tag>;
inline const thrust_omp_policy thrust_omp{};
#endif

/// Views of Thrust containers and pointers, without copies. The memory is whatever the
/// container's system holds: pass a device_vector's view to the CUDA policy, a host_vector's
/// to a CPU policy.
namespace thrust_adapt {

namespace detail {
template <class P>
auto* raw(P p) {
  if constexpr (requires { p.get(); }) {
    return p.get();  // device_ptr, system pointers
  } else {
    return p;  // host_vector: a plain pointer
  }
}
inline void require_elements(std::string_view argument, index_t have, index_t want) {
  if (have != want) {
    throw invalid_argument(argument, "holds " + std::to_string(have) +
                                         " elements, the shape needs " + std::to_string(want));
  }
}
}  // namespace detail

/// A rows x cols row-major matrix stored in a Thrust vector (host_vector, device_vector,
/// cpp/omp/cuda vectors). Throws unitsface::invalid_argument naming `argument` when the
/// vector's size is not rows * cols.
template <class Vec>
requires requires(Vec& v) {
  v.data();
  v.size();
}
auto matrix(Vec& v, index_t rows, index_t cols, std::string_view argument = "matrix") {
  detail::require_elements(argument, static_cast<index_t>(v.size()), rows * cols);
  auto* p = detail::raw(v.data());
  return matrix_view<std::remove_reference_t<decltype(*p)>>(p, rows, cols);
}

/// A Thrust vector as a vector_view.
template <class Vec>
requires requires(Vec& v) {
  v.data();
  v.size();
}
auto vector(Vec& v) {
  auto* p = detail::raw(v.data());
  return vector_view<std::remove_reference_t<decltype(*p)>>(p, static_cast<index_t>(v.size()));
}

/// A raw device pointer (thrust::device_ptr) as a row-major matrix / a vector.
template <class T>
matrix_view<T> matrix(thrust::device_ptr<T> p, index_t rows, index_t cols) {
  return matrix_view<T>(p.get(), rows, cols);
}
template <class T>
vector_view<T> vector(thrust::device_ptr<T> p, index_t n) {
  return vector_view<T>(p.get(), n);
}

}  // namespace thrust_adapt
}  // namespace unitsface
