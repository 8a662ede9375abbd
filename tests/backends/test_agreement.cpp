// Cross-backend agreement: every loss on this suite's backend (tests/support/backends.hpp)
// against host_policy, within 1e-12 (double) / 1e-5 (float) relative to the largest element,
// for the loss, grad_input, grad_weight, grad_bias and the bias used.
#include <catch2/catch.hpp>

#include "agreement.hpp"
#include "backends.hpp"
#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace unitsface;
namespace ag = unitsface::test::agreement;

TEMPLATE_TEST_CASE("every loss agrees with the host backend", "[agreement]", float, double) {
  const double tol = ag::tolerance<TestType>();
  for (std::uint32_t seed : {1u, 2u}) {
    const ag::problem<TestType> p(seed);
    for (const std::string& name : ag::loss_names()) {
      INFO("backend " << test::backend_name << ", loss " << name << ", seed " << seed);
      const auto want = ag::evaluate(host_policy{}, name, p);
      const auto got = ag::evaluate(test::policy(), name, p);
      CHECK(std::isfinite(static_cast<double>(want.loss)));
      CHECK(ag::relative_error(std::vector<TestType>{got.loss}, std::vector<TestType>{want.loss}) <=
            tol);
      CHECK(ag::relative_error(got.grad_input, want.grad_input) <= tol);
      CHECK(ag::relative_error(got.grad_weight, want.grad_weight) <= tol);
      CHECK(ag::relative_error(got.grad_bias, want.grad_bias) <= tol);
      CHECK(ag::relative_error(got.bias_used, want.bias_used) <= tol);
    }
  }
}

TEST_CASE("views of this backend's buffers round-trip through the policy's memory", "[agreement]") {
  const std::vector<double> host{1.0, -2.0, 3.5, 4.25, 0.0, -1.0};
  auto buf = test::upload(host);
  CHECK(test::download(buf) == host);
  // A transposed (column-major) view addresses the same memory.
  const matrix_view<const double> v(backends::data_ptr(buf), 2, 3);
  const auto t = backends::transpose(v);
  CHECK(t.rows == 3);
  CHECK(t.cols == 2);
  CHECK(t.row_stride == 1);
  CHECK(t.col_stride == 3);
}

namespace {
/// f(i) = i + 1: the sum over [0, n) is n (n + 1) / 2, exact in double for these n.
struct index_plus_one {
  UNITSFACE_HD double operator()(index_t i) const { return double(i + 1); }
};
}  // namespace

TEST_CASE("reduce_index sums every index, whatever n's remainder over the backend's blocks",
          "[agreement]") {
  // Backends may split a reduction into fixed blocks (thrust_omp: 64); n below, equal to and
  // above the block count, with every remainder class represented at least once near 64 and 128.
  // Eigen and xtensor use their blocks from 4,096 indices on.
  for (index_t n : {1, 2, 63, 64, 65, 100, 127, 128, 129, 191, 1000, 4095, 4096, 4097, 100003}) {
    INFO("backend " << test::backend_name << ", n " << n);
    const double got = backends::reduce_index<double>(test::policy(), n, index_plus_one{});
    CHECK(got == double(n) * double(n + 1) / 2.0);
  }
}

namespace {
/// f(i) = 1 / (i + 1) in float: a sum whose rounding depends on how it is grouped.
struct reciprocal {
  UNITSFACE_HD float operator()(index_t i) const { return 1.0f / float(i + 1); }
};
}  // namespace

#if defined(_OPENMP)
TEST_CASE("reduce_index gives the same bits on one thread and on several", "[agreement]") {
  const int threads = omp_get_max_threads();
  for (index_t n : {1000, 4096, 50000}) {
    INFO("backend " << test::backend_name << ", n " << n);
    omp_set_num_threads(1);
    const float one = backends::reduce_index<float>(test::policy(), n, reciprocal{});
    omp_set_num_threads(3);
    const float three = backends::reduce_index<float>(test::policy(), n, reciprocal{});
    omp_set_num_threads(threads);
    CHECK(one == three);
  }
}
#endif
