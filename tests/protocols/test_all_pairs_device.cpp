// all_pairs with its tiles reduced on the device (protocols/all_pairs_device.hpp) in simulated
// device memory: the generic Thrust pass (codes, sort, reduce by code) against the tiles copied
// to the host and counted there, and against the host policy; the bucket arithmetic the CUDA
// kernel shares with it.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "all_pairs_device_cases.hpp"
#include "simulated_device.hpp"
#include "unitsface/protocols.hpp"

using namespace unitsface;
namespace up = unitsface::protocols;
namespace apd = unitsface::test::all_pairs_device;

TEST_CASE("all_pairs on a device: min_key orders scores as the scores are ordered",
          "[protocols][all_pairs][device]") {
  const std::vector<float> f{
      -std::numeric_limits<float>::infinity(), -1.0f, -0.5f, -1e-30f, 0.0f, 1e-30f, 0.25f, 1.0f,
      std::numeric_limits<float>::infinity()};
  for (std::size_t a = 0; a < f.size(); ++a) {
    CHECK(up::detail::from_min_key<float>(up::detail::min_key(f[a])) == f[a]);
    for (std::size_t b = 0; b < f.size(); ++b)
      CHECK((up::detail::min_key(f[a]) < up::detail::min_key(f[b])) == (f[a] < f[b]));
  }
  const double d = -0.123456789012345;
  CHECK(up::detail::from_min_key<double>(up::detail::min_key(d)) == d);
  CHECK(up::detail::min_key(-2.0) < up::detail::min_key(d));
}

TEST_CASE("all_pairs on a device: a score's genuine bucket", "[protocols][all_pairs][device]") {
  // Values highest first: 0.75 (k = 0), 0.5 (k = 1), -0.25 (k = 2).
  const std::vector<double> v{0.75, 0.5, -0.25};
  const up::detail::bucket_code<double> code{v.data(), 3};
  CHECK(code(0.9) == 0);    // above every value
  CHECK(code(0.75) == 1);   // equal to value 0
  CHECK(code(0.6) == 2);    // between values 0 and 1
  CHECK(code(0.5) == 3);    // equal to value 1
  CHECK(code(0.0) == 4);    // between values 1 and 2
  CHECK(code(-0.25) == 5);  // equal to value 2
  CHECK(code(-0.3) == 6);   // below every value
  CHECK(code(std::nan("")) == 7);
  CHECK(code(std::numeric_limits<double>::infinity()) == 7);
  CHECK(code(-std::numeric_limits<double>::infinity()) == 7);
}

TEMPLATE_TEST_CASE(
    "all_pairs on a device: the tiles counted on the device equal the tiles "
    "counted on the host, for every tile shape",
    "[protocols][all_pairs][device]", float, double) {
  const test::simulated_device_policy pol{};
  STATIC_REQUIRE(up::detail::device_pair_reduction<test::simulated_device_policy>::value);
  // 2 dimensions: many near scores, so that impostors fall between and on genuine values.
  const apd::labelled_set wide(11, 40, 2, 0.8);
  apd::device_equals_host<TestType>(pol, wide, 1);  // (one-entry tiles: 10^4 sorts, slow)
  const apd::labelled_set set(12, 45, 16, 0.7);
  apd::device_equals_host<TestType>(pol, set, 1);
  // One-entry tiles, on a small set.
  const apd::labelled_set small(13, 9, 4, 0.7);
  apd::device_equals_host<TestType>(pol, small, 0);
}

TEST_CASE("all_pairs on a device: the host policy's result", "[protocols][all_pairs][device]") {
  const test::simulated_device_policy pol{};
  const apd::labelled_set set(21, 60, 8, 0.7);
  up::all_pairs_options o;
  o.far_targets = {1e-3, 1e-2, 0.1};
  o.tiles = {23, 41};
  const auto d = up::all_pairs<double>(pol, set.view(), set.labels(), o);
  const auto h = up::all_pairs<double>(host_policy{}, set.view(), set.labels(), o);
  // The host policy scales raw rows' products instead of normalising copies: scores may
  // differ in their last bits, the counts may not.
  CHECK(d.genuine == h.genuine);
  CHECK(d.impostor == h.impostor);
  CHECK(d.auc == Approx(h.auc).margin(1e-12));
  CHECK(d.eer.eer == Approx(h.eer.eer).margin(1e-12));
  for (std::size_t k = 0; k < d.at_most.size(); ++k) {
    CHECK(d.at_most[k].tar == Approx(h.at_most[k].tar).margin(1e-12));
    CHECK(d.at_most[k].threshold == Approx(h.at_most[k].threshold).margin(1e-12));
  }
}

TEST_CASE("all_pairs on a device: a set without a genuine pair is refused as on the host",
          "[protocols][all_pairs][device]") {
  const test::simulated_device_policy pol{};
  const std::vector<double> x{1, 0, 0, 1, 1, 1};
  const std::vector<long long> l{1, 2, 3};
  CHECK_THROWS_AS(up::all_pairs<double>(pol, matrix_view<const double>(x.data(), 3, 2),
                                        vector_view<const long long>(l.data(), 3)),
                  invalid_argument);
}
