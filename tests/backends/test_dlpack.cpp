// backends/dlpack.hpp: views of DLPack tensors. The tensors are built by hand as a framework
// hands them over (PyTorch's contiguous, transposed and sliced tensors, byte offsets, int64
// labels); every view is checked element by element against the memory it should address, a
// loss through DLPack views against the same loss through plain views, and every refusal for
// the argument it names.
#include "unitsface/backends/dlpack.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "thrown_argument.hpp"
#include "unitsface/losses.hpp"

using namespace unitsface;
using unitsface::test::thrown_argument;

namespace {

/// The DLPack type of T as the format defines it (type code, bits, lanes), written out here
/// rather than taken from the header under test.
template <class T>
DLDataType dtype() {
  using U = std::remove_const_t<T>;
  if constexpr (std::is_same_v<U, float>) return DLDataType{kDLFloat, 32, 1};
  if constexpr (std::is_same_v<U, double>) return DLDataType{kDLFloat, 64, 1};
  if constexpr (std::is_same_v<U, std::int64_t>) return DLDataType{kDLInt, 64, 1};
  if constexpr (std::is_same_v<U, std::int32_t>) return DLDataType{kDLInt, 32, 1};
  return DLDataType{kDLUInt, 8, 1};
}

/// A DLTensor over the caller's shape and strides (strides empty: compact row-major).
template <class T>
DLTensor tensor(T* data, std::vector<std::int64_t>& shape, std::vector<std::int64_t>& strides,
                DLDeviceType device = kDLCPU, std::uint64_t byte_offset = 0) {
  DLTensor t{};
  t.data = const_cast<std::remove_const_t<T>*>(data);
  t.device = DLDevice{device, 0};
  t.ndim = int(shape.size());
  t.dtype = dtype<T>();
  t.shape = shape.data();
  t.strides = strides.empty() ? nullptr : strides.data();
  t.byte_offset = byte_offset;
  return t;
}

}  // namespace

TEMPLATE_TEST_CASE("dlpack views address the tensor's memory in its strides", "[dlpack]", float,
                   double) {
  using T = TestType;
  std::vector<T> buf(24);
  std::iota(buf.begin(), buf.end(), T(0));
  SECTION("compact row-major (strides null)") {
    std::vector<std::int64_t> shape{3, 4}, strides;
    const auto v = dlpack::matrix<const T>(tensor(buf.data(), shape, strides));
    CHECK(v.rows == 3);
    CHECK(v.cols == 4);
    for (index_t i = 0; i < 3; ++i)
      for (index_t j = 0; j < 4; ++j) CHECK(v(i, j) == buf[std::size_t(i * 4 + j)]);
    CHECK(v.data == buf.data());  // no copy
  }
  SECTION("transposed (PyTorch's x.t(): strides 1, rows)") {
    std::vector<std::int64_t> shape{4, 3}, strides{1, 4};
    const auto v = dlpack::matrix<const T>(tensor(buf.data(), shape, strides));
    for (index_t i = 0; i < 4; ++i)
      for (index_t j = 0; j < 3; ++j) CHECK(v(i, j) == buf[std::size_t(j * 4 + i)]);
  }
  SECTION("a column slice with a byte offset (x[:, 1:3] of a 4 x 6 tensor)") {
    std::vector<std::int64_t> shape{4, 2}, strides{6, 1};
    const auto v = dlpack::matrix<T>(tensor(buf.data(), shape, strides, kDLCPU, sizeof(T)));
    for (index_t i = 0; i < 4; ++i)
      for (index_t j = 0; j < 2; ++j) CHECK(v(i, j) == buf[std::size_t(i * 6 + j + 1)]);
    v(0, 0) = T(-1);  // a mutable view writes the tensor
    CHECK(buf[1] == T(-1));
  }
  SECTION("a strided vector and extents of 1 with any stride") {
    std::vector<std::int64_t> shape{5}, strides{3};
    const auto v = dlpack::vector<const T>(tensor(buf.data(), shape, strides));
    CHECK(v.size() == 5);
    for (index_t i = 0; i < 5; ++i) CHECK(v[i] == buf[std::size_t(3 * i)]);
    std::vector<std::int64_t> one{1, 4}, zero_stride{0, 1};  // PyTorch may give 0 for extent 1
    const auto row = dlpack::matrix<const T>(tensor(buf.data(), one, zero_stride));
    CHECK(row(0, 3) == buf[3]);
  }
  SECTION("pinned and managed CUDA memory are host-readable") {
    std::vector<std::int64_t> shape{2, 2}, strides;
    for (DLDeviceType d : {kDLCUDAHost, kDLCUDAManaged})
      CHECK(dlpack::matrix<const T>(tensor(buf.data(), shape, strides, d)).data == buf.data());
    CHECK(dlpack::matrix<const T>(tensor(buf.data(), shape, strides, kDLCUDA), "x",
                                  dlpack::memory::cuda)
              .data == buf.data());
  }
}

TEST_CASE("a loss through dlpack views equals the loss through plain views", "[dlpack]") {
  const index_t B = 6, C = 5, D = 4;
  std::vector<double> x(B * D), w(C * D);
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = std::sin(0.7 * double(k) + 0.3);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = std::cos(1.3 * double(k) - 0.2);
  std::vector<index_t> y{0, 3, 1, 4, 2, 3};
  std::vector<std::int64_t> xs{B, D}, ws{C, D}, ys{B}, none;
  const DLTensor tx = tensor(x.data(), xs, none), tw = tensor(w.data(), ws, none),
                 ty = tensor(y.data(), ys, none);
  std::vector<double> g1(B * D), g2(B * D);
  losses::cosface_loss<double> L;
  const auto r1 = L.forward_backward(
      host_policy{}, dlpack::matrix<const double>(tx, "input"),
      dlpack::vector<const index_t>(ty, "labels"),
      losses::references<double>::weights(dlpack::matrix<const double>(tw, "weight")),
      losses::gradients<double>(make_matrix_view(g1.data(), B, D)));
  const auto r2 = L.forward_backward(
      host_policy{}, make_matrix_view<const double>(x.data(), B, D),
      make_vector_view<const index_t>(y.data(), B),
      losses::references<double>::weights(make_matrix_view<const double>(w.data(), C, D)),
      losses::gradients<double>(make_matrix_view(g2.data(), B, D)));
  CHECK(r1.loss == r2.loss);
  CHECK(g1 == g2);
}

TEST_CASE("dlpack views refuse what they cannot represent, naming the argument",
          "[dlpack][errors]") {
  std::vector<float> buf(24, 1.0f);
  std::vector<std::int64_t> shape{3, 4}, vshape{12}, none;
  const DLTensor ok = tensor(buf.data(), shape, none);
  auto as = [&](DLTensor t, auto change) {
    change(t);
    return t;
  };
  // the number of dimensions
  CHECK(thrown_argument([&] { dlpack::vector<const float>(ok, "input"); }) == "input");
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(tensor(buf.data(), vshape, none), "weight");
        }) == "weight");
  // the element type: bits, code, lanes; int32 labels where int64 are needed
  CHECK(thrown_argument([&] {
          dlpack::matrix<const double>(ok, "input");
        }) == "input");
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(as(ok, [](DLTensor& t) { t.dtype.code = kDLInt; }), "x");
        }) == "x");
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(as(ok, [](DLTensor& t) { t.dtype.lanes = 4; }), "x");
        }) == "x");
  std::vector<std::int32_t> y32(12);
  CHECK(thrown_argument([&] {
          dlpack::vector<const index_t>(tensor(y32.data(), vshape, none), "labels");
        }) == "labels");
  // the device
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(as(ok, [](DLTensor& t) { t.device.device_type = kDLCUDA; }),
                                      "input");
        }) == "input");
  CHECK(thrown_argument([&] { dlpack::matrix<const float>(ok, "input", dlpack::memory::cuda); }) ==
        "input");
  // extents and strides
  std::vector<std::int64_t> negative{3, -4}, zero_stride{0, 1}, back{-4, 1};
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(tensor(buf.data(), negative, none), "input");
        }) == "input");
  CHECK(thrown_argument([&] {
          dlpack::matrix<float>(tensor(buf.data(), shape, zero_stride), "grad");
        }) == "grad");
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(tensor(buf.data(), shape, back), "input");
        }) == "input");
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(as(ok, [](DLTensor& t) { t.shape = nullptr; }), "input");
        }) == "input");
  // data: null with elements, a byte offset that splits an element
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(as(ok, [](DLTensor& t) { t.data = nullptr; }), "input");
        }) == "input");
  CHECK(thrown_argument([&] {
          dlpack::matrix<const float>(as(ok, [](DLTensor& t) { t.byte_offset = 2; }), "input");
        }) == "input");
  // An empty tensor may have null data.
  std::vector<std::int64_t> empty{0, 4};
  const auto e =
      dlpack::matrix<const float>(tensor(static_cast<float*>(nullptr), empty, none), "input");
  CHECK(e.rows == 0);
}
