// unitsface: compile-time configuration shared by every header.
#pragma once

#define UNITSFACE_VERSION_MAJOR 0
#define UNITSFACE_VERSION_MINOR 1
#define UNITSFACE_VERSION_PATCH 0

// Functions that must run in host code and in CUDA device code (the scalar math of the
// losses) carry UNITSFACE_HD. Without nvcc the annotation is empty, so g++ and clang see
// plain inline functions.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define UNITSFACE_HD __host__ __device__
#else
#define UNITSFACE_HD
#endif

// Before a loop the compiler should vectorise as written: g++ unrolls some short inner loops
// early (a loop over 16 lanes of a maximum, say), after which its vectoriser no longer sees a
// loop. Empty for other compilers, and under nvcc, whose front end does not know the pragma.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__HIPCC__)
#define UNITSFACE_KEEP_ROLLED _Pragma("GCC unroll 1")
#else
#define UNITSFACE_KEEP_ROLLED
#endif

// On a host loop written as lanes for the vectoriser: g++ may use the widest vector
// registers the target has. With AVX-512 enabled (-march=native on such a CPU), g++ prefers
// 256-bit vectors by default, a choice made for code whose vector work is sparse; these loops
// are all vector work, and the BLAS's kernels around them already run 512-bit instructions.
// CosFace's statistics and element passes took 27 and 53 ms a call with 256-bit vectors, 19
// and 38 ms with 512-bit ones (512 / 85,742 / 512, float, 2 threads, an AVX-512 Xeon VM). No
// effect where the target has no 512-bit vectors. Empty for other compilers, and under
// nvcc, whose host pass is not where these loops run.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__HIPCC__) && \
    (defined(__x86_64__) || defined(__i386__))
#define UNITSFACE_WIDE_VECTORS __attribute__((target("prefer-vector-width=512")))
#else
#define UNITSFACE_WIDE_VECTORS
#endif

// The scalar math and the kernels' terms that the lane loops (losses/detail/driver.hpp) call
// for every element: always inlined in host code, so that the loops vectorise whatever budget
// g++'s inliner has left in the function. Left to its heuristics, a large enough lane loop
// reaches its large-function-growth limit and calls vexp and the per-pair term out of line,
// one element at a time: USS-m at 512 / 85,742 / 512 then cost 1.9x its product floor
// instead of 1.1x (g++ 12, -march=native on a Xeon it takes for Cooperlake). Empty for nvcc
// (device code is inlined anyway) and other compilers.
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIPCC__)
#define UNITSFACE_LANE_INLINE __attribute__((always_inline))
#else
#define UNITSFACE_LANE_INLINE
#endif

// A hot loop kept in a function of its own: inlined into a large caller, g++ can allocate its
// registers worse (the sort-free IJB-C pass, genuine_buckets).
#if defined(__GNUC__) || defined(__clang__)
#define UNITSFACE_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define UNITSFACE_NOINLINE __declspec(noinline)
#else
#define UNITSFACE_NOINLINE
#endif

// A hint to start loading the cache line at p for reading (host code; nothing elsewhere).
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDA_ARCH__) && \
    !defined(__HIP_DEVICE_COMPILE__)
#define UNITSFACE_PREFETCH(p) __builtin_prefetch(p)
#else
#define UNITSFACE_PREFETCH(p) ((void)(p))
#endif

#include <cstdint>

namespace unitsface {

/// Index type for rows, columns and element counts. Signed (as Eigen's Index), 64-bit so
/// that score sets of IJB-C or MFR size (1e8 .. 1e12 pairs) cannot overflow a count.
using index_t = std::int64_t;

}  // namespace unitsface
