// unitsface: the CUDA backend — Thrust's CUDA system with a stream, cuBLAS products.
//
//   cudaStream_t s = ...;
//   unitsface::cuda_policy pol(s);        // or cuda_policy{} for the default stream
//   loss.forward_backward(pol, x, labels, refs, grads);   // views of device memory
//   unitsface::cuda_policy fast({s, unitsface::product_precision::tf32});  // tensor cores
//
// Every primitive runs on `s`: the per-element terms and row reductions are the same
// host/device functors as the CPU backends, launched by thrust::for_each (without a
// synchronisation); reductions read their sum back to the host; buffers are allocated and
// freed in stream order (cudaMallocAsync); matrix products go to cuBLAS (float, double),
// row-major views mapped onto column-major calls, and views without a unit stride to the
// generic product kernel; float products in TF32 or BF16 on tensor cores where the policy asks
// (product_precision). Compile with nvcc and --expt-relaxed-constexpr (the CMake target
// unitsface_backend_cuda adds it); link CUDA::cudart and CUDA::cublas.
#pragma once

#if !defined(__CUDACC__)
#error "unitsface/backends/cuda.hpp is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <thrust/for_each.h>
#include <thrust/system/cuda/execution_policy.h>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "unitsface/backends/strided_layout.hpp"
#include "unitsface/backends/thrust.hpp"

namespace unitsface {

/// Thrown when a CUDA runtime or cuBLAS call fails (out of memory, no device, ...).
class cuda_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How cuda_policy multiplies float matrices (double products are FP64 whatever it says):
///   fp32  cublasSgemm, IEEE single precision: the default, the reference;
///   tf32  tensor cores on the inputs rounded to TF32 (a 10-bit mantissa), FP32 accumulation
///         (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32);
///   bf16  tensor cores on the inputs rounded to BF16 (a 7-bit mantissa), FP32 accumulation
///         (CUBLAS_COMPUTE_32F_FAST_16BF).
/// A deliberate deviation from the reference, so an option: a cosine then carries an error of
/// about 2^-11 (tf32) or 2^-8 (bf16) relative to its operands' norms. The loss's element math
/// stays FP32 either way.
enum class product_precision { fp32, tf32, bf16 };

namespace backends::cuda_detail {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw cuda_error(std::string("unitsface: ") + what + ": " + cudaGetErrorString(e));
  }
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw cuda_error(std::string("unitsface: ") + what + ": cuBLAS status " +
                     std::to_string(static_cast<int>(s)));
  }
}

template <class T>
struct value_init {
  T* p;
  UNITSFACE_HD void operator()(index_t i) const { p[i] = T(); }
};

/// An owning buffer of device memory allocated, initialised and freed in the order of one
/// stream (a thrust::device_vector would use the legacy default stream instead). Copies are
/// deep (device to device); moves transfer ownership.
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(index_t n, cudaStream_t s) : n_(n), stream_(s) {
    if (n_ > 0) {
      check(cudaMallocAsync(reinterpret_cast<void**>(&p_), bytes(), stream_), "cudaMallocAsync");
      thrust::for_each(thrust::cuda::par_nosync.on(stream_), thrust::counting_iterator<index_t>(0),
                       thrust::counting_iterator<index_t>(n_), value_init<T>{p_});
    }
  }
  device_buffer(const device_buffer& o) : n_(o.n_), stream_(o.stream_) {
    if (n_ > 0) {
      check(cudaMallocAsync(reinterpret_cast<void**>(&p_), bytes(), stream_), "cudaMallocAsync");
      check(cudaMemcpyAsync(p_, o.p_, bytes(), cudaMemcpyDeviceToDevice, stream_),
            "cudaMemcpyAsync");
    }
  }
  device_buffer(device_buffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), stream_(o.stream_) {}
  device_buffer& operator=(device_buffer o) noexcept {
    swap(o);
    return *this;
  }
  ~device_buffer() {
    if (p_ != nullptr) cudaFreeAsync(p_, stream_);  // errors cannot leave a destructor
  }
  void swap(device_buffer& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(stream_, o.stream_);
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return static_cast<std::size_t>(n_); }
  bool empty() const { return n_ == 0; }

 private:
  std::size_t bytes() const { return static_cast<std::size_t>(n_) * sizeof(T); }
  T* p_ = nullptr;
  index_t n_ = 0;
  cudaStream_t stream_ = nullptr;
};

/// One cuBLAS handle per host thread and device, created on first use and kept for the
/// life of the process (destroying it during static destruction races the CUDA runtime's
/// own teardown).
inline cublasHandle_t cublas_handle() {
  constexpr int max_devices = 64;
  thread_local cublasHandle_t handles[max_devices] = {};
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < 0 || dev >= max_devices) throw cuda_error("unitsface: device ordinal out of range");
  if (handles[dev] == nullptr) check(cublasCreate(&handles[dev]), "cublasCreate");
  return handles[dev];
}

inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const float* alpha, const float* a, int lda,
                                const float* b, int ldb, const float* beta, float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const double* alpha, const double* a, int lda,
                                const double* b, int ldb, const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
/// A float product on tensor cores (product_precision tf32 or bf16), FP32 in and out.
inline cublasStatus_t gemm_call(cublasHandle_t h, product_precision p, cublasOperation_t ta,
                                cublasOperation_t tb, int m, int n, int k, const float* alpha,
                                const float* a, int lda, const float* b, int ldb, const float* beta,
                                float* c, int ldc) {
  const cublasComputeType_t compute =
      p == product_precision::bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F_FAST_TF32;
  return cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c,
                      CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT);
}

}  // namespace backends::cuda_detail

template <>
struct thrust_system_traits<thrust::system::cuda::tag> {
  static constexpr const char* name = "cuda";
  static constexpr bool host_memory = false;

  struct state {
    cudaStream_t stream = nullptr;                          ///< null: the default stream
    product_precision precision = product_precision::fp32;  ///< float products
    state() = default;
    state(cudaStream_t s,  // NOLINT: implicit, so cuda_policy(stream) reads well
          product_precision p = product_precision::fp32)
        : stream(s), precision(p) {}
  };

  // Kernels are launched without a synchronisation; a reduction's result is read back, so it
  // synchronises the stream anyway.
  static auto exec(const state& s) { return thrust::cuda::par_nosync.on(s.stream); }
  static auto reduce_exec(const state& s) { return thrust::cuda::par.on(s.stream); }

  template <class T>
  static auto make_buffer(const state& s, index_t n) {
    return backends::cuda_detail::device_buffer<T>(n, s.stream);
  }

  template <class T>
  static void copy_to_host(const state& s, const T* src, index_t n, T* dst) {
    if (n <= 0) return;
    using backends::cuda_detail::check;
    check(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyDeviceToHost,
                          s.stream),
          "cudaMemcpyAsync (device to host)");
    check(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
  }
  // From pageable host memory the copy is staged before cudaMemcpyAsync returns, so the
  // caller may release the source at once.
  template <class T>
  static void copy_from_host(const state& s, const T* src, index_t n, T* dst) {
    if (n <= 0) return;
    backends::cuda_detail::check(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(n) * sizeof(T),
                                                 cudaMemcpyHostToDevice, s.stream),
                                 "cudaMemcpyAsync (host to device)");
  }

  /// C = alpha A B + beta C by cuBLAS; false (nothing done) for other types, views without
  /// a unit stride, sizes beyond int or K = 0, which the generic kernel then handles.
  template <class T>
  static bool gemm(const state& s, T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
                   matrix_view<T> c) {
    if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) {
      return false;
    } else {
      using namespace backends::cuda_detail;
      // The arguments (operands swapped for a row-major C) come from column_major_call,
      // which is host code tested against the column-major C BLAS call.
      const auto call = backends::blas::column_major_call(a, b, c);
      if (!call.ok) return false;
      cublasHandle_t h = cublas_handle();
      check(cublasSetStream(h, s.stream), "cublasSetStream");
      if constexpr (std::is_same_v<T, float>) {
        if (s.precision != product_precision::fp32) {
          check(gemm_call(h, s.precision, call.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                          call.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(call.m),
                          static_cast<int>(call.n), static_cast<int>(call.k), &alpha, call.a,
                          static_cast<int>(call.lda), call.b, static_cast<int>(call.ldb), &beta,
                          call.c, static_cast<int>(call.ldc)),
                "cublasGemmEx");
          return true;
        }
      }
      check(gemm_call(h, call.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                      call.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(call.m),
                      static_cast<int>(call.n), static_cast<int>(call.k), &alpha, call.a,
                      static_cast<int>(call.lda), call.b, static_cast<int>(call.ldb), &beta, call.c,
                      static_cast<int>(call.ldc)),
            "cublas gemm");
      return true;
    }
  }
};

/// Execution on a CUDA device, on one stream: `cuda_policy pol(stream)`.
using cuda_policy = thrust_policy<thrust::system::cuda::tag>;

}  // namespace unitsface
