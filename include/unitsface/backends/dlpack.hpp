// unitsface: views of DLPack tensors, the exchange format of PyTorch, CuPy, JAX, TVM and
// NumPy (dlpack/dlpack.h, DLPack 0.6 or later; Debian: libdlpack-dev).
//
//   DLManagedTensor* m = ...;                      // e.g. from torch.utils.dlpack.to_dlpack(x)
//   auto x = unitsface::dlpack::matrix<const float>(m->dl_tensor, "input");
//   auto y = unitsface::dlpack::vector<const unitsface::index_t>(labels->dl_tensor, "labels");
//
// A view addresses the tensor's own memory: no copy, and the tensor must outlive the view
// (the owner keeps the DLManagedTensor; unitsface never calls its deleter). Everything a view
// cannot represent, or that would make a loss read the wrong memory, is refused with an
// invalid_argument naming the argument (`name`): the number of dimensions, the element type
// (code, bits and lanes must be T's), the device (host memory for the CPU policies, CUDA
// memory for cuda_policy), negative extents, strides that are not positive where an extent
// exceeds 1 (a broadcast stride of 0 would alias the rows of an output), a null data pointer
// of a non-empty tensor, and a byte offset or address not aligned to T.
#pragma once

#include <dlpack/dlpack.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::dlpack {

/// Where the memory of a view must be: readable by the host (kDLCPU, and CUDA's pinned and
/// managed memory), or by a CUDA device (kDLCUDA, and managed memory).
enum class memory { host, cuda };

namespace detail {

/// The DLPack type of T: float32, float64, int64 (index_t, labels), int32, uint8.
template <class T>
constexpr DLDataType dtype_of() {
  using U = std::remove_const_t<T>;
  static_assert(std::is_same_v<U, float> || std::is_same_v<U, double> ||
                    std::is_same_v<U, std::int64_t> || std::is_same_v<U, std::int32_t> ||
                    std::is_same_v<U, std::uint8_t>,
                "dlpack views hold float, double, int64_t, int32_t or uint8_t");
  const std::uint8_t code = std::is_floating_point_v<U> ? std::uint8_t(kDLFloat)
                            : std::is_signed_v<U>       ? std::uint8_t(kDLInt)
                                                        : std::uint8_t(kDLUInt);
  return DLDataType{code, std::uint8_t(8 * sizeof(U)), 1};
}

inline std::string describe(DLDataType t) {
  std::string s = t.code == kDLFloat  ? "float"
                  : t.code == kDLInt  ? "int"
                  : t.code == kDLUInt ? "uint"
                                      : "type code " + std::to_string(int(t.code)) + " of ";
  s += std::to_string(int(t.bits));
  if (t.lanes != 1) s += "x" + std::to_string(int(t.lanes));
  return s;
}

inline bool readable_from(memory where, DLDeviceType d) {
  if (where == memory::host) return d == kDLCPU || d == kDLCUDAHost || d == kDLCUDAManaged;
  return d == kDLCUDA || d == kDLCUDAManaged;
}

/// The checks every view makes; returns the address of element 0.
template <class T>
T* checked_data(const DLTensor& t, int ndim, memory where, const char* name) {
  using unitsface::detail::require;
  require(t.ndim == ndim, name,
          "has " + std::to_string(t.ndim) + " dimension(s); the view needs " +
              std::to_string(ndim));
  const DLDataType want = dtype_of<T>();
  require(t.dtype.code == want.code && t.dtype.bits == want.bits && t.dtype.lanes == want.lanes,
          name, "dtype " + describe(t.dtype) + ", expected " + describe(want));
  require(readable_from(where, t.device.device_type), name,
          "device type " + std::to_string(int(t.device.device_type)) + " is not " +
              (where == memory::host ? "host memory (kDLCPU, kDLCUDAHost, kDLCUDAManaged)"
                                     : "CUDA memory (kDLCUDA, kDLCUDAManaged)"));
  require(t.shape != nullptr, name, "has no shape");
  std::int64_t size = 1;
  for (int d = 0; d < ndim; ++d) {
    require(t.shape[d] >= 0, name,
            "extent " + std::to_string(t.shape[d]) + " of dimension " + std::to_string(d));
    size *= t.shape[d];
    if (t.strides != nullptr && t.shape[d] > 1) {
      require(t.strides[d] > 0, name,
              "stride " + std::to_string(t.strides[d]) + " of dimension " + std::to_string(d) +
                  " is not positive");
    }
  }
  require(t.byte_offset % sizeof(T) == 0, name,
          "byte_offset " + std::to_string(t.byte_offset) + " is not a multiple of the element " +
              "size " + std::to_string(sizeof(T)));
  if (size == 0) return nullptr;
  require(t.data != nullptr, name, "null data with " + std::to_string(size) + " element(s)");
  const auto address = reinterpret_cast<std::uintptr_t>(t.data) + t.byte_offset;
  require(address % alignof(T) == 0, name, "data is not aligned to its element type");
  return reinterpret_cast<T*>(address);
}

/// The stride of dimension d (elements): the tensor's, or the compact row-major one.
inline index_t stride_of(const DLTensor& t, int d) {
  if (t.strides != nullptr) return static_cast<index_t>(t.strides[d]);
  index_t s = 1;
  for (int k = d + 1; k < t.ndim; ++k) s *= static_cast<index_t>(t.shape[k]);
  return s;
}

}  // namespace detail

/// A rows x cols view of a 2-D tensor with element type T (const T for an input), in the
/// tensor's strides (row-major, column-major or any positive strides).
template <class T>
matrix_view<T> matrix(const DLTensor& t, const char* name = "tensor",
                      memory where = memory::host) {
  T* p = detail::checked_data<T>(t, 2, where, name);
  return matrix_view<T>(p, static_cast<index_t>(t.shape[0]), static_cast<index_t>(t.shape[1]),
                        detail::stride_of(t, 0), detail::stride_of(t, 1));
}

/// An n-element view of a 1-D tensor with element type T (labels: const index_t, int64).
template <class T>
vector_view<T> vector(const DLTensor& t, const char* name = "tensor",
                      memory where = memory::host) {
  T* p = detail::checked_data<T>(t, 1, where, name);
  return vector_view<T>(p, static_cast<index_t>(t.shape[0]), detail::stride_of(t, 0));
}

}  // namespace unitsface::dlpack
