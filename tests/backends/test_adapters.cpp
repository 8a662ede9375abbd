// The adapters (backends/eigen.hpp, backends/xtensor.hpp, backends/thrust.hpp) view a
// caller's container in place: the view holds the container's own pointer, shape and strides,
// a write through the view shows in the container and the other way round, for every layout
// the adapter takes (row- and column-major, blocks, slices, padded maps); what an adapter
// checks it refuses, naming the argument; and a loss given the views computes what it computes
// from contiguous copies on the host. Built once per backend; each adapter is tested in the
// suite of its backend.
#include <catch2/catch.hpp>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "backends.hpp"
#include "thrown_argument.hpp"
#include "unitsface/losses.hpp"

#if defined(UNITSFACE_TEST_BACKEND_EIGEN) && defined(UNITSFACE_WITH_EIGEN)
#define UNITSFACE_ADAPTERS_EIGEN 1
#include "unitsface/backends/eigen.hpp"
#endif
#if defined(UNITSFACE_TEST_BACKEND_XTENSOR) && defined(UNITSFACE_WITH_XTENSOR)
#define UNITSFACE_ADAPTERS_XTENSOR 1
#include <xtensor/xview.hpp>

#include "unitsface/backends/xtensor.hpp"
#endif
#if (defined(UNITSFACE_TEST_BACKEND_THRUST_CPP) && defined(UNITSFACE_WITH_THRUST_CPP)) || \
    (defined(UNITSFACE_TEST_BACKEND_THRUST_OMP) && defined(UNITSFACE_WITH_THRUST_OMP))
#define UNITSFACE_ADAPTERS_THRUST_VECTORS 1
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#endif
#if defined(UNITSFACE_ADAPTERS_THRUST_VECTORS) || \
    (defined(UNITSFACE_TEST_BACKEND_SIMULATED_DEVICE) && defined(UNITSFACE_WITH_SIMULATED_DEVICE))
#define UNITSFACE_ADAPTERS_THRUST_BUFFERS 1
#include "unitsface/backends/thrust.hpp"
#endif

using namespace unitsface;

namespace adapters_test {

using namespace unitsface::losses;

/// v[k] = a distinct value for every k (so that a view of the wrong element shows).
inline std::vector<double> distinct(index_t n, double offset = 0.0) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (index_t k = 0; k < n; ++k)
    v[static_cast<std::size_t>(k)] = std::sin(1.3 * double(k) + offset);
  return v;
}

/// The problem the loss checks use: B anchors, C class weights, dimension D.
struct view_problem {
  index_t B = 6, C = 8, D = 5;
  std::vector<double> x = distinct(B * D, 0.2), w = distinct(C * D, 1.7);
  std::vector<index_t> y{0, 3, 1, 3, 7, 2};
};

/// CosFace's loss and gradients from contiguous host copies by the host policy: the
/// expectation for the same data reached through an adapter.
struct host_result {
  double loss = 0.0;
  std::vector<double> gx, gw;
};
inline host_result host_cosface(const view_problem& p) {
  host_result r;
  r.gx.assign(static_cast<std::size_t>(p.B * p.D), 0.0);
  r.gw.assign(static_cast<std::size_t>(p.C * p.D), 0.0);
  cosface_loss<double> L(cosface_options<double>(0.35, 16.0));
  r.loss = L.forward_backward(
                host_policy{}, matrix_view<const double>(p.x.data(), p.B, p.D),
                vector_view<const index_t>(p.y.data(), p.B),
                references<double>::weights(matrix_view<const double>(p.w.data(), p.C, p.D)),
                gradients<double>(matrix_view<double>(r.gx.data(), p.B, p.D),
                                  matrix_view<double>(r.gw.data(), p.C, p.D)))
               .loss;
  return r;
}

/// max |a - b| / max |b|.
inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double scale = 0.0, err = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    scale = std::max(scale, std::fabs(b[k]));
    err = std::max(err, std::fabs(a[k] - b[k]));
  }
  return scale > 0.0 ? err / scale : err;
}

}  // namespace adapters_test

#if defined(UNITSFACE_ADAPTERS_EIGEN)
namespace adapters_test {
using row_major = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class M>
void fill(M& m) {
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = double(10 * i + j);
}
}  // namespace adapters_test

TEST_CASE("eigen::view: row-major and column-major matrices, in place", "[adapters][eigen]") {
  using namespace adapters_test;
  row_major r(3, 4);
  fill(r);
  auto v = eigen::view(r);
  STATIC_REQUIRE(std::is_same_v<decltype(v), matrix_view<double>>);
  CHECK(v.data == r.data());
  CHECK(v.rows == 3);
  CHECK(v.cols == 4);
  CHECK(v.row_stride == 4);
  CHECK(v.col_stride == 1);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK(v(i, j) == r(i, j));
  v(1, 2) = 42.0;
  CHECK(r(1, 2) == 42.0);
  r(2, 3) = -1.0;
  CHECK(v(2, 3) == -1.0);

  Eigen::MatrixXd c(3, 4);  // Eigen's default: column-major
  fill(c);
  auto cv = eigen::view(c);
  CHECK(cv.data == c.data());
  CHECK(cv.rows == 3);
  CHECK(cv.cols == 4);
  CHECK(cv.row_stride == 1);
  CHECK(cv.col_stride == 3);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK(cv(i, j) == c(i, j));
  cv(2, 1) = 7.5;
  CHECK(c(2, 1) == 7.5);

  // A const container gives a read-only view of the same memory.
  const Eigen::MatrixXd& cc = c;
  auto ccv = eigen::view(cc);
  STATIC_REQUIRE(std::is_same_v<decltype(ccv), matrix_view<const double>>);
  CHECK(ccv.data == c.data());
  CHECK(ccv.col_stride == 3);
  Eigen::MatrixXf f(2, 2);
  STATIC_REQUIRE(std::is_same_v<decltype(eigen::view(f)), matrix_view<float>>);
  CHECK(eigen::view(f).data == f.data());
}

TEST_CASE("eigen::view: blocks, strided maps, Ref and transposes, in place", "[adapters][eigen]") {
  using namespace adapters_test;
  row_major r(5, 6);
  fill(r);
  auto rb = r.block(1, 2, 3, 3);
  auto v = eigen::view(rb);
  CHECK(v.data == &r(1, 2));
  CHECK(v.rows == 3);
  CHECK(v.cols == 3);
  CHECK(v.row_stride == 6);
  CHECK(v.col_stride == 1);
  CHECK(v(2, 1) == r(3, 3));
  v(2, 2) = 99.0;
  CHECK(r(3, 4) == 99.0);

  Eigen::MatrixXd c(5, 6);
  fill(c);
  auto cb = c.block(1, 2, 3, 3);
  auto cbv = eigen::view(cb);
  CHECK(cbv.data == &c(1, 2));
  CHECK(cbv.row_stride == 1);
  CHECK(cbv.col_stride == 5);
  CHECK(cbv(2, 1) == c(3, 3));
  cbv(0, 2) = -3.0;
  CHECK(c(1, 4) == -3.0);
  // A block expression passed as it is (a temporary): a read-only view of the same memory.
  auto tv = eigen::view(c.block(2, 1, 2, 4));
  STATIC_REQUIRE(std::is_same_v<decltype(tv), matrix_view<const double>>);
  CHECK(tv.data == &c(2, 1));
  CHECK(tv.col_stride == 5);

  // Padded rows: a map with an outer stride larger than the row.
  std::vector<double> buf(4 * 7, 0.0);
  Eigen::Map<row_major, Eigen::Unaligned, Eigen::OuterStride<>> padded(buf.data(), 4, 5,
                                                                       Eigen::OuterStride<>(7));
  auto pv = eigen::view(padded);
  CHECK(pv.data == buf.data());
  CHECK(pv.rows == 4);
  CHECK(pv.cols == 5);
  CHECK(pv.row_stride == 7);
  CHECK(pv.col_stride == 1);
  pv(3, 4) = 9.0;
  CHECK(buf[3 * 7 + 4] == 9.0);

  // No unit stride at all: inner stride 2, outer stride 10 (column-major).
  std::vector<double> sparse(40, 0.0);
  Eigen::Map<Eigen::MatrixXd, Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>
      spread(sparse.data(), 3, 4, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(10, 2));
  auto sv = eigen::view(spread);
  CHECK(sv.data == sparse.data());
  CHECK(sv.row_stride == 2);
  CHECK(sv.col_stride == 10);
  sv(2, 3) = 5.0;
  CHECK(sparse[2 * 2 + 3 * 10] == 5.0);

  // Ref, of a whole matrix and of a block.
  Eigen::Ref<Eigen::MatrixXd> ref(c);
  CHECK(eigen::view(ref).data == c.data());
  Eigen::Ref<Eigen::MatrixXd> refb(cb);
  auto refv = eigen::view(refb);
  CHECK(refv.data == &c(1, 2));
  CHECK(refv.row_stride == 1);
  CHECK(refv.col_stride == 5);
  refv(1, 1) = 12.0;
  CHECK(c(2, 3) == 12.0);

  // A transpose of a row-major matrix is a column-major view of the same memory.
  auto t = eigen::view(r.transpose());
  CHECK(t.data == r.data());
  CHECK(t.rows == 6);
  CHECK(t.cols == 5);
  CHECK(t.row_stride == 1);
  CHECK(t.col_stride == 6);
  CHECK(t(4, 2) == r(2, 4));
}

TEST_CASE("eigen::vector: vectors, rows and columns with their strides", "[adapters][eigen]") {
  using namespace adapters_test;
  Eigen::VectorXd v(5);
  v << 1, 2, 3, 4, 5;
  auto vv = eigen::vector(v);
  STATIC_REQUIRE(std::is_same_v<decltype(vv), vector_view<double>>);
  CHECK(vv.data == v.data());
  CHECK(vv.size() == 5);
  CHECK(vv.stride == 1);
  vv[3] = -4.0;
  CHECK(v(3) == -4.0);

  Eigen::MatrixXd c(3, 4);
  fill(c);
  auto row = c.row(1);  // across the columns of a column-major matrix
  auto rv = eigen::vector(row);
  CHECK(rv.data == &c(1, 0));
  CHECK(rv.size() == 4);
  CHECK(rv.stride == 3);
  CHECK(rv[2] == c(1, 2));
  rv[2] = 11.0;
  CHECK(c(1, 2) == 11.0);

  row_major r(3, 4);
  fill(r);
  auto col = r.col(2);
  auto colv = eigen::vector(col);
  CHECK(colv.data == &r(0, 2));
  CHECK(colv.size() == 3);
  CHECK(colv.stride == 4);
  CHECK(colv[1] == r(1, 2));

  const Eigen::Matrix<index_t, Eigen::Dynamic, 1> labels = Eigen::Matrix<index_t, 3, 1>(2, 0, 1);
  auto lv = eigen::vector(labels);
  STATIC_REQUIRE(std::is_same_v<decltype(lv), vector_view<const index_t>>);
  CHECK(lv.data == labels.data());
  CHECK(lv.size() == 3);
  CHECK(lv[0] == 2);

  // a block of several rows and columns has no single stride: refused, not walked past
  CHECK(test::thrown_argument([&] { (void)eigen::vector(c); }) == "vector");
  const Eigen::MatrixXd& cc = c;
  CHECK(test::thrown_argument([&] { (void)eigen::vector(cc.block(0, 0, 2, 2)); }) == "vector");
  auto one_by_one = c.block(1, 1, 1, 1);
  CHECK(eigen::vector(one_by_one).size() == 1);
}

TEST_CASE("views of Eigen objects go into a loss as contiguous data would",
          "[adapters][eigen][losses]") {
  using namespace adapters_test;
  const view_problem p;
  const host_result want = host_cosface(p);
  // Anchors column-major, the class weights a block of a larger row-major matrix, the
  // gradients a column-major matrix and a padded block.
  Eigen::MatrixXd X(p.B, p.D);
  row_major big(p.C + 3, p.D + 4);
  big.setConstant(std::nan(""));  // a read outside the block would poison the results
  auto W = big.block(2, 3, p.C, p.D);
  for (index_t i = 0; i < p.B; ++i)
    for (index_t k = 0; k < p.D; ++k) X(i, k) = p.x[static_cast<std::size_t>(i * p.D + k)];
  for (index_t j = 0; j < p.C; ++j)
    for (index_t k = 0; k < p.D; ++k) W(j, k) = p.w[static_cast<std::size_t>(j * p.D + k)];
  Eigen::Matrix<index_t, Eigen::Dynamic, 1> Y(p.B);
  for (index_t i = 0; i < p.B; ++i) Y(i) = p.y[static_cast<std::size_t>(i)];
  Eigen::MatrixXd GX(p.B, p.D);
  row_major gbig = row_major::Constant(p.C + 1, p.D + 2, -777.0);
  auto GW = gbig.block(1, 1, p.C, p.D);
  cosface_loss<double> L(cosface_options<double>(0.35, 16.0));
  const double loss = L.forward_backward(eigen_policy{}, eigen::view(X), eigen::vector(Y),
                                         references<double>::weights(eigen::view(W)),
                                         gradients<double>(eigen::view(GX), eigen::view(GW)))
                          .loss;
  CHECK(loss == Approx(want.loss).epsilon(1e-12));
  std::vector<double> gx, gw;
  for (index_t i = 0; i < p.B; ++i)
    for (index_t k = 0; k < p.D; ++k) gx.push_back(GX(i, k));
  for (index_t j = 0; j < p.C; ++j)
    for (index_t k = 0; k < p.D; ++k) gw.push_back(GW(j, k));
  CHECK(relative_error(gx, want.gx) <= 1e-12);
  CHECK(relative_error(gw, want.gw) <= 1e-12);
  // Nothing outside the gradient's block was written.
  CHECK((gbig.array() == -777.0).count() == gbig.size() - p.C * p.D);
}
#endif  // UNITSFACE_ADAPTERS_EIGEN

#if defined(UNITSFACE_ADAPTERS_XTENSOR)
namespace adapters_test {
template <class E>
void fill(E& e) {
  for (std::size_t i = 0; i < e.shape()[0]; ++i)
    for (std::size_t j = 0; j < e.shape()[1]; ++j) e(i, j) = double(10 * i + j);
}
}  // namespace adapters_test

TEST_CASE("xtensor_adapt::view: row- and column-major containers, in place",
          "[adapters][xtensor]") {
  using namespace adapters_test;
  xt::xtensor<double, 2> a = xt::zeros<double>({3, 4});
  fill(a);
  auto v = xtensor_adapt::view(a, "weight");
  STATIC_REQUIRE(std::is_same_v<decltype(v), matrix_view<double>>);
  CHECK(v.data == a.data());
  CHECK(v.rows == 3);
  CHECK(v.cols == 4);
  CHECK(v.row_stride == 4);
  CHECK(v.col_stride == 1);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK(v(i, j) == a(i, j));
  v(2, 1) = -5.0;
  CHECK(a(2, 1) == -5.0);
  a(0, 3) = 8.0;
  CHECK(v(0, 3) == 8.0);

  xt::xtensor<double, 2, xt::layout_type::column_major> c = xt::zeros<double>({3, 4});
  fill(c);
  auto cv = xtensor_adapt::view(c);
  CHECK(cv.data == c.data());
  CHECK(cv.row_stride == 1);
  CHECK(cv.col_stride == 3);
  CHECK(cv(2, 3) == c(2, 3));
  cv(1, 2) = 4.5;
  CHECK(c(1, 2) == 4.5);

  xt::xarray<double> x = xt::zeros<double>({2, 5});
  auto xv = xtensor_adapt::view(x);
  CHECK(xv.data == x.data());
  CHECK(xv.rows == 2);
  CHECK(xv.cols == 5);
  CHECK(xv.row_stride == 5);

  const xt::xtensor<double, 2>& ca = a;
  auto cav = xtensor_adapt::view(ca);
  STATIC_REQUIRE(std::is_same_v<decltype(cav), matrix_view<const double>>);
  CHECK(cav.data == a.data());

  // xt::adapt of the caller's buffer, in either layout.
  std::vector<double> buf(12, 0.0);
  auto ad = xt::adapt(buf.data(), buf.size(), xt::no_ownership(), std::array<std::size_t, 2>{3, 4});
  auto adv = xtensor_adapt::view(ad);
  CHECK(adv.data == buf.data());
  CHECK(adv.row_stride == 4);
  adv(2, 3) = 1.25;
  CHECK(buf[11] == 1.25);
  auto adc = xt::adapt<xt::layout_type::column_major>(buf.data(), buf.size(), xt::no_ownership(),
                                                      std::array<std::size_t, 2>{3, 4});
  auto adcv = xtensor_adapt::view(adc);
  CHECK(adcv.data == buf.data());
  CHECK(adcv.row_stride == 1);
  CHECK(adcv.col_stride == 3);
  adcv(1, 2) = 2.5;
  CHECK(buf[1 + 2 * 3] == 2.5);
}

TEST_CASE("xtensor_adapt::view: slices, transposes and extent-1 dimensions",
          "[adapters][xtensor]") {
  using namespace adapters_test;
  xt::xtensor<double, 2> a = xt::zeros<double>({5, 6});
  fill(a);
  auto s = xt::view(a, xt::range(1, 4), xt::range(2, 5));
  auto sv = xtensor_adapt::view(s);
  CHECK(sv.data == &a(1, 2));
  CHECK(sv.rows == 3);
  CHECK(sv.cols == 3);
  CHECK(sv.row_stride == 6);
  CHECK(sv.col_stride == 1);
  CHECK(sv(2, 1) == a(3, 3));
  sv(0, 0) = -1.0;
  CHECK(a(1, 2) == -1.0);

  auto every_other = xt::view(a, xt::range(0, 5, 2), xt::all());
  auto ev = xtensor_adapt::view(every_other);
  CHECK(ev.data == a.data());
  CHECK(ev.rows == 3);
  CHECK(ev.row_stride == 12);
  CHECK(ev(2, 5) == a(4, 5));

  auto t = xt::transpose(a);
  auto tv = xtensor_adapt::view(t);
  CHECK(tv.data == a.data());
  CHECK(tv.rows == 6);
  CHECK(tv.cols == 5);
  CHECK(tv.row_stride == 1);
  CHECK(tv.col_stride == 6);
  CHECK(tv(4, 2) == a(2, 4));

  // xtensor may store stride 0 for a dimension of extent 1; the view addresses the same
  // elements.
  xt::xtensor<double, 2> one_row = xt::zeros<double>({1, 4});
  fill(one_row);
  auto ov = xtensor_adapt::view(one_row);
  CHECK(ov.data == one_row.data());
  CHECK(ov.rows == 1);
  CHECK(ov.cols == 4);
  CHECK(ov.col_stride == 1);
  CHECK(ov(0, 3) == one_row(0, 3));
  xt::xtensor<double, 2> one_col = xt::zeros<double>({4, 1});
  fill(one_col);
  auto oc = xtensor_adapt::view(one_col);
  CHECK(oc.row_stride == 1);
  CHECK(oc(3, 0) == one_col(3, 0));
}

TEST_CASE("xtensor_adapt::vector: 1-D containers, rows and columns", "[adapters][xtensor]") {
  using namespace adapters_test;
  xt::xtensor<index_t, 1> y = {3, 1, 4, 1, 5};
  auto yv = xtensor_adapt::vector(y, "labels");
  STATIC_REQUIRE(std::is_same_v<decltype(yv), vector_view<index_t>>);
  CHECK(yv.data == y.data());
  CHECK(yv.size() == 5);
  CHECK(yv.stride == 1);
  yv[4] = 9;
  CHECK(y(4) == 9);

  xt::xtensor<double, 2> a = xt::zeros<double>({5, 6});
  fill(a);
  auto col = xt::view(a, xt::all(), 2);
  auto cv = xtensor_adapt::vector(col);
  CHECK(cv.data == &a(0, 2));
  CHECK(cv.size() == 5);
  CHECK(cv.stride == 6);
  CHECK(cv[3] == a(3, 2));
  cv[1] = -2.0;
  CHECK(a(1, 2) == -2.0);
  auto row = xt::view(a, 3, xt::all());
  auto rv = xtensor_adapt::vector(row);
  CHECK(rv.data == &a(3, 0));
  CHECK(rv.size() == 6);
  CHECK(rv.stride == 1);

  xt::xtensor<double, 1> single = {2.5};
  auto sv = xtensor_adapt::vector(single);
  CHECK(sv.size() == 1);
  CHECK(sv.stride == 1);
  CHECK(sv[0] == 2.5);
}

TEST_CASE("xtensor_adapt refuses a container of another dimension, naming the argument",
          "[adapters][xtensor][errors]") {
  xt::xarray<double> three = xt::zeros<double>({2, 3, 4});
  xt::xarray<double> one = xt::zeros<double>({5});
  xt::xarray<double> two = xt::zeros<double>({2, 5});
  using test::thrown_argument;
  CHECK(thrown_argument([&] { xtensor_adapt::view(three, "weight"); }) == "weight");
  CHECK(thrown_argument([&] { xtensor_adapt::view(three); }) == "matrix");
  CHECK(thrown_argument([&] { xtensor_adapt::view(one, "input"); }) == "input");
  CHECK(thrown_argument([&] { xtensor_adapt::vector(two, "labels"); }) == "labels");
  CHECK(thrown_argument([&] { xtensor_adapt::vector(three); }) == "vector");
}

TEST_CASE("views of xtensor containers go into a loss as contiguous data would",
          "[adapters][xtensor][losses]") {
  using namespace adapters_test;
  const view_problem p;
  const host_result want = host_cosface(p);
  const auto B = static_cast<std::size_t>(p.B), C = static_cast<std::size_t>(p.C),
             D = static_cast<std::size_t>(p.D);
  // Anchors column-major, the class weights the transpose of a D x C tensor, the labels a
  // 1-D tensor, the gradients column-major and a slice of a padded tensor.
  xt::xtensor<double, 2, xt::layout_type::column_major> X = xt::zeros<double>({B, D});
  xt::xtensor<double, 2> WT = xt::zeros<double>({D, C});
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t k = 0; k < D; ++k) X(i, k) = p.x[i * D + k];
  for (std::size_t j = 0; j < C; ++j)
    for (std::size_t k = 0; k < D; ++k) WT(k, j) = p.w[j * D + k];
  auto W = xt::transpose(WT);
  xt::xtensor<index_t, 1> Y = xt::zeros<index_t>({B});
  for (std::size_t i = 0; i < B; ++i) Y(i) = p.y[i];
  xt::xtensor<double, 2, xt::layout_type::column_major> GX = xt::zeros<double>({B, D});
  xt::xtensor<double, 2> gbig = xt::zeros<double>({C + 2, D + 3});
  gbig.fill(-777.0);
  auto GW = xt::view(gbig, xt::range(1, C + 1), xt::range(2, D + 2));
  cosface_loss<double> L(cosface_options<double>(0.35, 16.0));
  const double loss =
      L.forward_backward(xtensor_policy{}, xtensor_adapt::view(X, "input"),
                         xtensor_adapt::vector(Y, "labels"),
                         references<double>::weights(xtensor_adapt::view(W, "weight")),
                         gradients<double>(xtensor_adapt::view(GX), xtensor_adapt::view(GW)))
          .loss;
  CHECK(loss == Approx(want.loss).epsilon(1e-12));
  std::vector<double> gx, gw;
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t k = 0; k < D; ++k) gx.push_back(GX(i, k));
  for (std::size_t j = 0; j < C; ++j)
    for (std::size_t k = 0; k < D; ++k) gw.push_back(GW(j, k));
  CHECK(relative_error(gx, want.gx) <= 1e-12);
  CHECK(relative_error(gw, want.gw) <= 1e-12);
  std::size_t marks = 0;
  for (double v : gbig) marks += v == -777.0 ? 1 : 0;
  CHECK(marks == gbig.size() - C * D);
}
#endif  // UNITSFACE_ADAPTERS_XTENSOR

#if defined(UNITSFACE_ADAPTERS_THRUST_VECTORS)
TEST_CASE("thrust_adapt: host, system and device vectors viewed in place", "[adapters][thrust]") {
  thrust::host_vector<double> h(12);
  for (std::size_t k = 0; k < h.size(); ++k) h[k] = double(k);
  auto m = thrust_adapt::matrix(h, 3, 4, "weight");
  STATIC_REQUIRE(std::is_same_v<decltype(m), matrix_view<double>>);
  CHECK(m.data == thrust::raw_pointer_cast(h.data()));
  CHECK(m.rows == 3);
  CHECK(m.cols == 4);
  CHECK(m.row_stride == 4);
  CHECK(m.col_stride == 1);
  CHECK(m(2, 1) == h[9]);
  m(2, 1) = -5.0;
  CHECK(h[9] == -5.0);
  h[4] = 40.0;
  CHECK(m(1, 0) == 40.0);
  auto v = thrust_adapt::vector(h);
  CHECK(v.data == thrust::raw_pointer_cast(h.data()));
  CHECK(v.size() == 12);
  CHECK(v.stride == 1);
  const thrust::host_vector<double>& ch = h;
  auto cm = thrust_adapt::matrix(ch, 4, 3);
  STATIC_REQUIRE(std::is_same_v<decltype(cm), matrix_view<const double>>);
  CHECK(cm.data == thrust::raw_pointer_cast(h.data()));
  CHECK(cm.row_stride == 3);

  // The system vectors are read back through a copy into a host_vector: reading one element
  // through Thrust's element reference binds a null execution policy, which UBSan reports
  // (Thrust's own code; the sanitizer build would stop there).
  thrust::cpp::vector<double> cv(6, 1.0);
  auto cmv = thrust_adapt::matrix(cv, 2, 3);
  CHECK(cmv.data == thrust::raw_pointer_cast(cv.data()));
  cmv(1, 2) = 3.0;
  CHECK(thrust::host_vector<double>(cv)[5] == 3.0);
#if defined(_OPENMP)
  thrust::omp::vector<double> ov(6, 1.0);
  auto omv = thrust_adapt::matrix(ov, 3, 2);
  CHECK(omv.data == thrust::raw_pointer_cast(ov.data()));
  omv(2, 0) = 7.0;
  CHECK(thrust::host_vector<double>(ov)[4] == 7.0);
#endif
  // device_vector: here on the CPP device system (the CPU builds' THRUST_DEVICE_SYSTEM).
  thrust::device_vector<double> dv(8, 0.0);
  auto dm = thrust_adapt::matrix(dv, 2, 4);
  CHECK(dm.data == thrust::raw_pointer_cast(dv.data()));
  dm(1, 3) = 2.5;
  CHECK(thrust::host_vector<double>(dv)[7] == 2.5);
  thrust::device_ptr<double> dp = dv.data();
  auto pm = thrust_adapt::matrix(dp, 4, 2);
  CHECK(pm.data == dp.get());
  CHECK(pm.rows == 4);
  CHECK(pm.row_stride == 2);
  auto pv = thrust_adapt::vector(dp, 8);
  CHECK(pv.data == dp.get());
  CHECK(pv.size() == 8);
  CHECK(pv[7] == 2.5);
}

TEST_CASE("thrust_adapt refuses a vector of the wrong size, naming the argument",
          "[adapters][thrust][errors]") {
  using test::thrown_argument;
  thrust::host_vector<double> h(12);
  thrust::cpp::vector<double> c(12);
  CHECK(thrown_argument([&] { thrust_adapt::matrix(h, 3, 5, "weight"); }) == "weight");
  CHECK(thrown_argument([&] { thrust_adapt::matrix(h, 2, 4, "input"); }) == "input");
  CHECK(thrown_argument([&] { thrust_adapt::matrix(h, 5, 3); }) == "matrix");
  CHECK(thrown_argument([&] { thrust_adapt::matrix(c, 13, 1, "gradients.input"); }) ==
        "gradients.input");
  CHECK(thrown_argument([&] { thrust_adapt::matrix(h, 3, 4); }) == "<no exception>");
}
#endif  // UNITSFACE_ADAPTERS_THRUST_VECTORS

#if defined(UNITSFACE_ADAPTERS_THRUST_BUFFERS)
TEST_CASE("thrust_adapt views the policy's own buffers in place, and a loss takes the views",
          "[adapters][thrust][losses]") {
  using namespace adapters_test;
  using test::download;
  using test::policy;
  const view_problem p;
  const host_result want = host_cosface(p);
  // The buffers of the suite's policy (its system's vectors; device memory for the simulated
  // device, which the host does not touch but through copies).
  auto x = backends::make_buffer<double>(policy(), p.B * p.D);
  auto w = backends::make_buffer<double>(policy(), p.C * p.D);
  auto y = backends::make_buffer<index_t>(policy(), p.B);
  auto gx = backends::make_buffer<double>(policy(), p.B * p.D);
  auto gw = backends::make_buffer<double>(policy(), p.C * p.D);
  backends::copy_from_host(policy(), p.x.data(), p.B * p.D, backends::data_ptr(x));
  backends::copy_from_host(policy(), p.w.data(), p.C * p.D, backends::data_ptr(w));
  backends::copy_from_host(policy(), p.y.data(), p.B, backends::data_ptr(y));
  const auto xv = thrust_adapt::matrix(x, p.B, p.D, "input");
  const auto wv = thrust_adapt::matrix(w, p.C, p.D, "weight");
  const auto yv = thrust_adapt::vector(y);
  CHECK(xv.data == backends::data_ptr(x));
  CHECK(wv.data == backends::data_ptr(w));
  CHECK(yv.data == backends::data_ptr(y));
  CHECK(xv.row_stride == p.D);
  CHECK(yv.size() == p.B);
  CHECK(test::thrown_argument([&] { thrust_adapt::matrix(x, p.B, p.D + 1, "input"); }) == "input");
  cosface_loss<double> L(cosface_options<double>(0.35, 16.0));
  const double loss = L.forward_backward(policy(), xv, yv, references<double>::weights(wv),
                                         gradients<double>(thrust_adapt::matrix(gx, p.B, p.D),
                                                           thrust_adapt::matrix(gw, p.C, p.D)))
                          .loss;
  CHECK(loss == Approx(want.loss).epsilon(1e-12));
  CHECK(relative_error(download(gx), want.gx) <= 1e-12);
  CHECK(relative_error(download(gw), want.gw) <= 1e-12);
}
#endif  // UNITSFACE_ADAPTERS_THRUST_BUFFERS
