// unitsface: the primitives a backend supplies, and their dispatch.
//
// Every front-end below calls the policy's own member when the policy type has one, and the
// generic version (backends/generic.hpp) otherwise: a backend overrides only what it does
// better. The set is small on purpose:
//
//   for_each_index(pol, n, f)        f(i) for i in [0, n)          (any system)
//   reduce_index<Acc>(pol, n, f)     sum of f(i), read back to host
//   gemm(pol, alpha, A, B, beta, C)  C = alpha A B + beta C, strided views
//   make_buffer<T>(pol, n)           owning zeroed buffer in the policy's memory
//   copy_to_host / copy_from_host    transfers between that memory and the host
//   normalize_rows(_backward)         row normalisation and its gradient (a backend may fuse)
//   row_segments(pol, rows, cols)     how the driver's row passes split a row (1 by default)
//
// The loss driver (losses/detail/driver.hpp) and the memory update are written on these.
#pragma once

#include <cmath>
#include <utility>

#include "unitsface/backends/generic.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::backends {

/// The transpose of a view: the same memory with rows and columns (and strides) swapped.
template <class T>
UNITSFACE_HD constexpr matrix_view<T> transpose(matrix_view<T> v) {
  return matrix_view<T>(v.data, v.cols, v.rows, v.col_stride, v.row_stride);
}

/// The raw pointer to a buffer's elements (std::vector, thrust vectors, ...).
template <class Buf>
auto* data_ptr(Buf& b) {
  if constexpr (requires { b.data().get(); }) {
    return b.data().get();  // thrust vectors: device_ptr / pointer wrappers -> raw pointer
  } else {
    return b.data();
  }
}
template <class Buf>
const auto* data_ptr(const Buf& b) {
  return data_ptr(const_cast<Buf&>(b));
}

/// How many segments the loss driver's row passes split each row of a rows x cols tile into:
/// the policy's row_segments where it has one, else 1 (a row per call of the row functor,
/// which the CPU backends vectorise along the row). A device with many more threads than
/// rows asks for more: each (row, segment) is then one thread over the columns s, s + S,
/// s + 2 S, ..., so that neighbouring threads read neighbouring columns, and the segments'
/// partial results are combined per row in a fixed order (deterministic).
/// How many cosines a loss tile holds by default on this policy (the tile driver's
/// default_tile_elements): the policy type's own default_tile_elements where it declares a
/// positive one (cuda_policy: 2^25), else 2^22.
template <class Policy>
constexpr index_t default_tile_elements() {
  if constexpr (requires { Policy::default_tile_elements; }) {
    if (Policy::default_tile_elements > 0) return Policy::default_tile_elements;
  }
  return index_t(1) << 22;
}

/// The row segments a device's policy asks for (cuda_policy, and the simulated device that
/// stands for it in the tests): a multiple of the 32 threads of a warp, so that a warp reads
/// 32 neighbouring columns of one row, doubled (up to 1024) while each thread keeps at least
/// 16 columns: 512 segments of 16 columns for the default 8,192-column tile of a 512-anchor
/// batch, 262,144 threads. Narrow tiles still get 32 (some segments then have no
/// column, and their empty partial results merge as nothing): a tile of a few columns is
/// cheap either way, and the segmented code is then the one the small tests run.
inline index_t device_row_segments(index_t cols) {
  if (cols <= 1) return 1;
  index_t s = 32;
  while (s < 1024 && s * 32 <= cols) s *= 2;
  return s;
}

template <class Policy>
index_t row_segments(const Policy& pol, index_t rows, index_t cols) {
  if constexpr (requires { pol.row_segments(rows, cols); }) {
    return pol.row_segments(rows, cols);
  } else {
    return 1;
  }
}

template <class Policy, class F>
void for_each_index(const Policy& pol, index_t n, F f) {
  if (n <= 0) return;
  if constexpr (requires { pol.for_each_index(n, f); }) {
    pol.for_each_index(n, f);
  } else {
    generic::for_each_index(pol, n, f);
  }
}

template <class Acc, class Policy, class F>
Acc reduce_index(const Policy& pol, index_t n, F f) {
  if (n <= 0) return Acc(0);
  if constexpr (requires { pol.template reduce_index<Acc>(n, f); }) {
    return pol.template reduce_index<Acc>(n, f);
  } else {
    return generic::reduce_index<Acc>(pol, n, f);
  }
}

template <class T, class Policy>
auto make_buffer(const Policy& pol, index_t n) {
  if constexpr (requires { pol.template make_buffer<T>(n); }) {
    return pol.template make_buffer<T>(n);
  } else {
    return generic::make_buffer<T>(pol, n);
  }
}

/// The working memory of one call (value-initialised, as make_buffer's): from the policy's
/// workspace where it has one (with_workspace, core/workspace.hpp), else make_buffer.
template <class T, class Policy>
auto make_scratch(const Policy& pol, index_t n) {
  if constexpr (requires { pol.template make_scratch<T>(n); }) {
    return pol.template make_scratch<T>(n);
  } else {
    return make_buffer<T>(pol, n);
  }
}

/// make_scratch for a buffer the call overwrites before it reads it: from a workspace its
/// contents are whatever the block held (no zero-fill); otherwise make_buffer's zeros. Same
/// type as make_scratch's.
template <class T, class Policy>
auto make_uninitialized_scratch(const Policy& pol, index_t n) {
  if constexpr (requires { pol.template make_uninitialized_scratch<T>(n); }) {
    return pol.template make_uninitialized_scratch<T>(n);
  } else {
    return make_buffer<T>(pol, n);
  }
}

template <class T, class Policy>
void copy_to_host(const Policy& pol, const T* src, index_t n, T* dst) {
  if constexpr (requires { pol.copy_to_host(src, n, dst); }) {
    pol.copy_to_host(src, n, dst);
  } else {
    generic::copy_to_host(pol, src, n, dst);
  }
}

template <class T, class Policy>
void copy_from_host(const Policy& pol, const T* src, index_t n, T* dst) {
  if constexpr (requires { pol.copy_from_host(src, n, dst); }) {
    pol.copy_from_host(src, n, dst);
  } else {
    generic::copy_from_host(pol, src, n, dst);
  }
}

namespace generic {
template <class Policy, class T>
void gemm(const Policy& pol, T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
          matrix_view<T> c) {
  backends::for_each_index(pol, c.rows, detail::gemm_row<T>{alpha, beta, a, b, c});
}
}  // namespace generic

template <class Policy, class T>
void gemm(const Policy& pol, T alpha, matrix_view<const T> a, matrix_view<const T> b, T beta,
          matrix_view<T> c) {
  if (c.rows == 0 || c.cols == 0) return;
  if constexpr (requires { pol.gemm(alpha, a, b, beta, c); }) {
    pol.gemm(alpha, a, b, beta, c);
  } else {
    generic::gemm(pol, alpha, a, b, beta, c);
  }
}

}  // namespace unitsface::backends

// ---- row normalisation (a primitive too: a backend may fuse it) --------------------------
namespace unitsface::backends {
namespace generic::detail {

/// The order in which a row's sum of squares (and the backward pass's dot product) is added,
/// on every backend: 32 interleaved partial sums (element k into partial k mod 32, in
/// ascending k), then combined pairwise (partial l += partial l + w, for w = 16, 8, 4, 2, 1).
/// It is the order of a warp whose lane l reads elements l, l + 32, ... and reduces by
/// shuffles, as the CUDA backend's normalisation kernels do; so the per-row functors below,
/// which also run inside other kernels (the feature memory's update normalises the rows it
/// writes), give the bits of those kernels, and the memory's normalised mirror is exactly the
/// loss calls' normalisation. On a CPU it costs nothing measurable: CosFace on thrust_omp
/// (512 x 85,742 x 512, Xeon VM, alternating runs) took 670-709 ms, 713-728 ms with one sum.
constexpr int row_lanes = 32;

/// sum_k a(i, k) b(i, k) over a row, in the row_lanes order.
template <class T>
UNITSFACE_HD T row_dot(const matrix_view<const T>& a, const matrix_view<const T>& b, index_t i) {
  T p[row_lanes];
  for (int l = 0; l < row_lanes; ++l) p[l] = T(0);
  const index_t n = a.cols;
  index_t k0 = 0;
  for (; k0 + row_lanes <= n; k0 += row_lanes) {
    for (int l = 0; l < row_lanes; ++l) p[l] += a(i, k0 + l) * b(i, k0 + l);
  }
  for (int l = 0; k0 + l < n; ++l) p[l] += a(i, k0 + l) * b(i, k0 + l);
  for (int w = row_lanes / 2; w > 0; w /= 2) {
    for (int l = 0; l < w; ++l) p[l] += p[l + w];
  }
  return p[0];
}

/// out_i = x_i / max(||x_i||, eps), norms_i = ||x_i|| (PyTorch F.normalize semantics).
template <class T>
struct normalize_row {
  matrix_view<const T> in;
  matrix_view<T> out;
  T* norms;
  T eps;
  UNITSFACE_HD void operator()(index_t i) const {
    using std::sqrt;
    const T n = sqrt(row_dot(in, in, i));
    const T inv = T(1) / (n > eps ? n : eps);
    for (index_t k = 0; k < in.cols; ++k) out(i, k) = in(i, k) * inv;
    if (norms != nullptr) norms[i] = n;
  }
};

/// The gradient through the normalisation: for g = d loss / d x_hat,
///   d loss / d x = (g - x_hat (x_hat . g)) / ||x||   when ||x|| > eps,
///                = g / eps                            otherwise (x_hat = x / eps is linear).
/// With `accumulate` the result is added to `out` instead of overwriting it. `out` may be `g`
/// itself (the driver takes a gradient through the normalisation in place): each row reads
/// all of its g before writing, and each element of g before writing that element. A
/// backend that provides normalize_rows_backward must allow this too.
template <class T>
struct normalize_backward_row {
  matrix_view<const T> xhat;
  const T* norms;
  matrix_view<const T> g;
  matrix_view<T> out;
  T eps;
  bool accumulate;
  UNITSFACE_HD void operator()(index_t i) const {
    const T n = norms[i];
    const T dot = n > eps ? row_dot(xhat, g, i) : T(0);
    const T inv = T(1) / (n > eps ? n : eps);
    for (index_t k = 0; k < g.cols; ++k) {
      const T v = (g(i, k) - xhat(i, k) * dot) * inv;
      out(i, k) = accumulate ? out(i, k) + v : v;
    }
  }
};

}  // namespace generic::detail

template <class Policy, class T>
void normalize_rows(const Policy& pol, matrix_view<const T> in, matrix_view<T> out, T* norms,
                    T eps) {
  if constexpr (requires { pol.normalize_rows(in, out, norms, eps); }) {
    pol.normalize_rows(in, out, norms, eps);
  } else {
    for_each_index(pol, in.rows, generic::detail::normalize_row<T>{in, out, norms, eps});
  }
}

template <class Policy, class T>
void normalize_rows_backward(const Policy& pol, matrix_view<const T> xhat, const T* norms,
                             matrix_view<const T> g, matrix_view<T> out, T eps, bool accumulate) {
  if constexpr (requires { pol.normalize_rows_backward(xhat, norms, g, out, eps, accumulate); }) {
    pol.normalize_rows_backward(xhat, norms, g, out, eps, accumulate);
  } else {
    for_each_index(
        pol, xhat.rows,
        generic::detail::normalize_backward_row<T>{xhat, norms, g, out, eps, accumulate});
  }
}

}  // namespace unitsface::backends
