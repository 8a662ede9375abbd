// unitsface: the CUDA backend — Thrust's CUDA system with a stream, cuBLAS products.
//
//   cudaStream_t s = ...;
//   unitsface::cuda_policy pol(s);        // or cuda_policy{} for the default stream
//   loss.forward_backward(pol, x, labels, refs, grads);   // views of device memory
//   unitsface::cuda_policy fast({s, unitsface::product_precision::tf32});  // tensor cores
//
// Every primitive runs on `s`: the per-element terms and row reductions are the same
// host/device functors as the CPU backends, launched by thrust::for_each (without a
// synchronisation), the loss driver's row passes split into segments of a row
// (backends::row_segments) so that a warp reads neighbouring columns; row normalisation is a
// warp per row (kernels of this file); reductions read their sum back to the host; buffers and
// Thrust's temporary storage are allocated and freed in stream order, from a memory pool of
// unitsface's that keeps freed memory for the next call (memory_pool); matrix products go to cuBLAS
// (float, double), row-major views mapped onto column-major calls, and views without a unit stride
// to the generic product kernel; float products in TF32 or BF16 on tensor cores where the policy
// asks (product_precision). Compile with nvcc and --expt-relaxed-constexpr (the CMake target
// unitsface_backend_cuda adds it); link CUDA::cudart and CUDA::cublas.
#pragma once

#if !defined(__CUDACC__)
#error "unitsface/backends/cuda.hpp is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <thrust/for_each.h>
#include <thrust/system/cuda/execution_policy.h>

#include <cstdint>
#include <mutex>
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

constexpr int max_devices = 64;

inline int current_device() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < 0 || dev >= max_devices) throw cuda_error("unitsface: device ordinal out of range");
  return dev;
}

/// The pools of every device's unitsface allocations, made on first use and kept for the
/// process (the runtime releases them when it ends; release_cached_memory() trims them).
struct memory_pools {
  std::mutex m;
  cudaMemPool_t pool[max_devices] = {};
};
inline memory_pools& pools() {
  static memory_pools p;
  return p;
}

/// The stream-ordered memory pool of device `dev` from which unitsface allocates (buffers,
/// Thrust's temporary storage). A pool of its own rather than the device's default one:
/// its release threshold is set to keep the memory freed into it (the default, 0, returns
/// that memory to the system at every synchronisation, and a loss call synchronises at each
/// read-back, so each call would map its scratch again), without changing the default pool
/// that the rest of the program allocates from.
inline cudaMemPool_t memory_pool(int dev) {
  thread_local cudaMemPool_t known[max_devices] = {};
  if (known[dev] != nullptr) return known[dev];
  memory_pools& all = pools();
  const std::lock_guard<std::mutex> lock(all.m);
  if (all.pool[dev] == nullptr) {
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = dev;
    cudaMemPool_t p = nullptr;
    check(cudaMemPoolCreate(&p, &props), "cudaMemPoolCreate");
    std::uint64_t keep = ~std::uint64_t(0);
    check(cudaMemPoolSetAttribute(p, cudaMemPoolAttrReleaseThreshold, &keep),
          "cudaMemPoolSetAttribute (release threshold)");
    all.pool[dev] = p;
  }
  known[dev] = all.pool[dev];
  return known[dev];
}

/// `bytes` of device memory (the current device's) in the order of stream `s`, from
/// memory_pool: no synchronisation.
inline void* pool_allocate(std::size_t bytes, cudaStream_t s) {
  void* p = nullptr;
  check(cudaMallocFromPoolAsync(&p, bytes, memory_pool(current_device()), s),
        "cudaMallocFromPoolAsync");
  return p;
}

/// Thrust's temporary storage (a reduction's partial sums, a sort's buffers) from the pool in
/// stream order. Without it Thrust's CUDA system takes that storage from cudaMalloc and
/// returns it with cudaFree, which waits for the whole device: a loss call's reductions
/// (its value checks, its loss) each stalled the GPU twice.
struct stream_allocator {
  using value_type = char;
  cudaStream_t stream = nullptr;
  char* allocate(std::ptrdiff_t n) {
    return static_cast<char*>(pool_allocate(static_cast<std::size_t>(n), stream));
  }
  void deallocate(char* p, std::size_t) { cudaFreeAsync(p, stream); }  // errors: none to report
};

/// device_buffer's constructor that leaves the memory as allocated (make_uninitialized_buffer).
struct uninitialized_t {};

/// An owning buffer of device memory allocated, initialised and freed in the order of one
/// stream (a thrust::device_vector would use the legacy default stream instead), from
/// memory_pool. Copies are deep (device to device); moves transfer ownership.
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(index_t n, cudaStream_t s) : device_buffer(n, s, uninitialized_t{}) {
    if (n_ > 0) {
      thrust::for_each(thrust::cuda::par_nosync.on(stream_), thrust::counting_iterator<index_t>(0),
                       thrust::counting_iterator<index_t>(n_), value_init<T>{p_});
    }
  }
  /// Not initialised: for memory written before it is read.
  device_buffer(index_t n, cudaStream_t s, uninitialized_t) : n_(n), stream_(s) {
    if (n_ > 0) p_ = static_cast<T*>(pool_allocate(bytes(), stream_));
  }
  device_buffer(const device_buffer& o) : n_(o.n_), stream_(o.stream_) {
    if (n_ > 0) {
      p_ = static_cast<T*>(pool_allocate(bytes(), stream_));
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

/// One cuBLAS handle per host thread and device, created on first use and destroyed when
/// the thread ends. A thread_local's destructor runs at thread exit, and for the main thread
/// at exit() before the static destructors and atexit handlers, the CUDA runtime's teardown
/// among them, so the handle and its workspace (64 MiB on a Hopper GPU) are released while
/// the runtime still stands: a leak checker (compute-sanitizer --leak-check full) then sees
/// none of it.
struct cublas_handles {
  cublasHandle_t h[max_devices] = {};
  cublas_handles() = default;
  cublas_handles(const cublas_handles&) = delete;
  cublas_handles& operator=(const cublas_handles&) = delete;
  ~cublas_handles() {
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess) return;
    for (int d = 0; d < max_devices; ++d) {
      if (h[d] == nullptr) continue;
      // a handle belongs to the device that was current when it was made (errors cannot
      // leave a destructor)
      if (cudaSetDevice(d) == cudaSuccess) cublasDestroy(h[d]);
    }
    cudaSetDevice(current);
  }
};
inline cublasHandle_t cublas_handle() {
  thread_local cublas_handles handles;
  const int dev = current_device();
  if (handles.h[dev] == nullptr) check(cublasCreate(&handles.h[dev]), "cublasCreate");
  return handles.h[dev];
}

/// Row normalisation with one warp per row: the 32 lanes read 32 neighbouring elements of
/// the row at a time (coalesced), and the row's sum of squares is reduced across the warp by
/// shuffles. The semantics and the order of the additions are those of the generic
/// normalize_row (backends/primitives.hpp, row_dot), so both give the same bits:
/// out_i = x_i / max(||x_i||, eps), norms_i = ||x_i||.
constexpr int rows_per_block = 8;  // 256 threads
static_assert(backends::generic::detail::row_lanes == 32, "a warp's lanes");

// The butterfly: lane l adds lane l ^ o's value, o = 16, 8, 4, 2, 1. Lanes l and l ^ o add
// the same two values (in either order: the same bits), so after each step lane l holds what
// row_dot's pairwise combination holds in partial l mod o, and every lane ends with its p[0].
template <class T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__global__ void normalize_rows_kernel(matrix_view<const T> in, matrix_view<T> out, T* norms,
                                      T eps) {
  const index_t i = index_t(blockIdx.x) * rows_per_block + threadIdx.x / 32;
  const int lane = int(threadIdx.x % 32);
  if (i >= in.rows) return;  // the whole warp: a row is one warp's
  T ss = T(0);
  for (index_t k = lane; k < in.cols; k += 32) ss += in(i, k) * in(i, k);
  const T n = sqrt(warp_sum(ss));
  const T inv = T(1) / (n > eps ? n : eps);
  for (index_t k = lane; k < in.cols; k += 32) out(i, k) = in(i, k) * inv;
  if (lane == 0 && norms != nullptr) norms[i] = n;
}

/// The gradient through the normalisation (generic normalize_backward_row's semantics), a
/// warp per row. out may be g: every lane has read its elements of g for the dot product
/// before the shuffles that complete it, and each element is then read and written by the
/// same lane.
template <class T>
__global__ void normalize_rows_backward_kernel(matrix_view<const T> xhat, const T* norms,
                                               matrix_view<const T> g, matrix_view<T> out, T eps,
                                               bool accumulate) {
  const index_t i = index_t(blockIdx.x) * rows_per_block + threadIdx.x / 32;
  const int lane = int(threadIdx.x % 32);
  if (i >= xhat.rows) return;
  const T n = norms[i];
  T dot = T(0);
  if (n > eps) {
    for (index_t k = lane; k < g.cols; k += 32) dot += xhat(i, k) * g(i, k);
  }
  dot = warp_sum(dot);
  const T inv = T(1) / (n > eps ? n : eps);
  for (index_t k = lane; k < g.cols; k += 32) {
    const T v = (g(i, k) - xhat(i, k) * dot) * inv;
    out(i, k) = accumulate ? out(i, k) + v : v;
  }
}

inline unsigned row_blocks(index_t rows) {
  return static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
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
  // synchronises the stream anyway. Both take their temporary storage from the pool in
  // stream order (stream_allocator).
  static auto exec(const state& s) {
    return thrust::cuda::par_nosync(backends::cuda_detail::stream_allocator{s.stream}).on(s.stream);
  }
  static auto reduce_exec(const state& s) {
    return thrust::cuda::par(backends::cuda_detail::stream_allocator{s.stream}).on(s.stream);
  }

  template <class T>
  static auto make_buffer(const state& s, index_t n) {
    return backends::cuda_detail::device_buffer<T>(n, s.stream);
  }
  template <class T>
  static auto make_uninitialized_buffer(const state& s, index_t n) {
    return backends::cuda_detail::device_buffer<T>(n, s.stream,
                                                   backends::cuda_detail::uninitialized_t{});
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

  /// The loss tiles' default: 2^25 cosines (128 MiB in float; 65,536 columns for 512
  /// anchors), 8 times the CPUs'. Each tile's products are then large enough for cuBLAS to
  /// fill the GPU (d loss / d x_hat = G R_tile has a B x D output: its parallelism is in the
  /// tile's width), and a 2,000,000-class head is 31 tiles rather than 245. Measured on an
  /// H200 (docs/benchmarks.md).
  static constexpr index_t default_tile_elements = index_t(1) << 25;

  /// The loss driver's row segments (backends::device_row_segments): a device needs many
  /// more threads than a batch has rows.
  static index_t row_segments(index_t, index_t cols) { return backends::device_row_segments(cols); }

  template <class T>
  static void normalize_rows(const state& s, matrix_view<const T> in, matrix_view<T> out, T* norms,
                             T eps) {
    using namespace backends::cuda_detail;
    if (in.rows <= 0) return;
    normalize_rows_kernel<T>
        <<<row_blocks(in.rows), rows_per_block * 32, 0, s.stream>>>(in, out, norms, eps);
    check(cudaGetLastError(), "normalize_rows kernel launch");
  }
  template <class T>
  static void normalize_rows_backward(const state& s, matrix_view<const T> xhat, const T* norms,
                                      matrix_view<const T> g, matrix_view<T> out, T eps,
                                      bool accumulate) {
    using namespace backends::cuda_detail;
    if (xhat.rows <= 0) return;
    normalize_rows_backward_kernel<T><<<row_blocks(xhat.rows), rows_per_block * 32, 0, s.stream>>>(
        xhat, norms, g, out, eps, accumulate);
    check(cudaGetLastError(), "normalize_rows_backward kernel launch");
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

/// Returns the device memory that unitsface's pools keep for reuse (memory freed by its calls,
/// held so that the next call does not map it again) to the system, on every device that has
/// one. For a program that shares the GPU with another allocator (PyTorch's) between phases.
inline void release_cached_memory() {
  auto& all = backends::cuda_detail::pools();
  const std::lock_guard<std::mutex> lock(all.m);
  for (cudaMemPool_t p : all.pool) {
    if (p != nullptr) backends::cuda_detail::check(cudaMemPoolTrimTo(p, 0), "cudaMemPoolTrimTo");
  }
}

}  // namespace unitsface
