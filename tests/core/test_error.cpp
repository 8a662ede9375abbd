// error.hpp: unitsface::invalid_argument and the detail::require* checks that throw it. The
// expected messages are written out by hand from the documented format
// "unitsface: argument '<name>': <what>".
#include "unitsface/core/error.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "thrown_argument.hpp"

using namespace unitsface;
using unitsface::test::thrown_argument;

namespace {

/// what() of the unitsface::invalid_argument thrown by f, or "" when none is thrown.
template <class F>
std::string thrown_message(F&& f) {
  try {
    f();
  } catch (const unitsface::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("invalid_argument names the argument and formats its message", "[core][error]") {
  const unitsface::invalid_argument e("labels", "value 7 is out of range [0, 5)");
  CHECK(e.argument() == "labels");
  CHECK(std::string(e.what()) == "unitsface: argument 'labels': value 7 is out of range [0, 5)");

  // The name is copied from a string_view by its length, not read up to a terminator.
  const std::string_view prefix = std::string_view("weightXYZ").substr(0, 6);
  const unitsface::invalid_argument f(prefix, "is empty");
  CHECK(f.argument() == "weight");
  CHECK(std::string(f.what()) == "unitsface: argument 'weight': is empty");

  // The name outlives the string it was built from.
  std::string temporary = "memory";
  const unitsface::invalid_argument g(temporary, "x");
  temporary.assign("clobbered");
  CHECK(g.argument() == "memory");
}

TEST_CASE("invalid_argument is caught as the standard exceptions", "[core][error]") {
  STATIC_REQUIRE(std::is_base_of_v<std::invalid_argument, unitsface::invalid_argument>);
  STATIC_REQUIRE(std::is_base_of_v<std::logic_error, unitsface::invalid_argument>);
  // A caller that only knows the standard library still gets the argument name in what().
  bool caught = false;
  try {
    throw unitsface::invalid_argument("input", "must be finite");
  } catch (const std::invalid_argument& e) {
    caught = true;
    CHECK(std::string(e.what()).find("'input'") != std::string::npos);
  }
  CHECK(caught);
  // Copies keep the name (exceptions are copied when rethrown or stored).
  const unitsface::invalid_argument original("valid", "no valid reference");
  const unitsface::invalid_argument copy = original;
  CHECK(copy.argument() == "valid");
  CHECK(std::string(copy.what()) == original.what());
}

TEST_CASE("require throws exactly when the condition is false", "[core][error]") {
  CHECK_NOTHROW(detail::require(true, "x", "unused"));
  CHECK(thrown_argument([] { detail::require(false, "scale", "must be > 0"); }) == "scale");
  CHECK(thrown_message([] { detail::require(false, "scale", "must be > 0"); }) ==
        "unitsface: argument 'scale': must be > 0");
}

TEST_CASE("require_shape compares both dimensions and shows both shapes", "[core][error]") {
  CHECK_NOTHROW(detail::require_shape("input", 3, 4, 3, 4));
  CHECK_NOTHROW(detail::require_shape("input", 0, 0, 0, 0));
  // Each dimension on its own must be checked (an && in place of || would pass these).
  CHECK(thrown_argument([] { detail::require_shape("weight", 3, 5, 3, 4); }) == "weight");
  CHECK(thrown_argument([] { detail::require_shape("weight", 2, 4, 3, 4); }) == "weight");
  // Transposed shapes have the same element count but are still wrong.
  CHECK(thrown_argument([] { detail::require_shape("weight", 4, 3, 3, 4); }) == "weight");
  CHECK(thrown_message([] { detail::require_shape("weight", 3, 5, 3, 4); }) ==
        "unitsface: argument 'weight': expected shape 3x4, got 3x5");
  // Sizes past 2^32 are printed in full (index_t is 64-bit).
  CHECK(thrown_message([] {
          detail::require_shape("grad", index_t(5'000'000'000), 2, index_t(5'000'000'000), 1);
        }) == "unitsface: argument 'grad': expected shape 5000000000x1, got 5000000000x2");
}

TEST_CASE("require_size compares the element count", "[core][error]") {
  CHECK_NOTHROW(detail::require_size("labels", 8, 8));
  CHECK(thrown_argument([] { detail::require_size("labels", 7, 8); }) == "labels");
  CHECK(thrown_argument([] { detail::require_size("labels", 9, 8); }) == "labels");
  CHECK(thrown_message([] { detail::require_size("labels", 7, 8); }) ==
        "unitsface: argument 'labels': expected 8 elements, got 7");
}

TEMPLATE_TEST_CASE("require_finite_scalar rejects NaN and infinities only", "[core][error]", float,
                   double) {
  using T = TestType;
  using lim = std::numeric_limits<T>;
  for (T ok : {T(0), -T(0), T(1), T(-1), lim::max(), lim::lowest(), lim::min(), lim::denorm_min(),
               -lim::denorm_min()}) {
    CAPTURE(ok);
    CHECK_NOTHROW(detail::require_finite_scalar("margin", ok));
  }
  for (T bad : {lim::quiet_NaN(), -lim::quiet_NaN(), lim::infinity(), -lim::infinity()}) {
    CAPTURE(bad);
    CHECK(thrown_argument([bad] { detail::require_finite_scalar("margin", bad); }) == "margin");
  }
  CHECK(thrown_message([] { detail::require_finite_scalar("margin", lim::infinity()); }) ==
        "unitsface: argument 'margin': must be finite, got inf");
}

TEMPLATE_TEST_CASE("require_positive accepts only finite values above zero", "[core][error]", float,
                   double) {
  using T = TestType;
  using lim = std::numeric_limits<T>;
  for (T ok : {lim::denorm_min(), lim::min(), T(0.5), T(64), lim::max()}) {
    CAPTURE(ok);
    CHECK_NOTHROW(detail::require_positive("scale", ok));
  }
  for (T bad : {T(0), -T(0), -lim::denorm_min(), T(-1), lim::lowest(), lim::quiet_NaN(),
                lim::infinity(), -lim::infinity()}) {
    CAPTURE(bad);
    CHECK(thrown_argument([bad] { detail::require_positive("scale", bad); }) == "scale");
  }
  CHECK(thrown_message([] { detail::require_positive("scale", T(-2)); }) ==
        "unitsface: argument 'scale': must be > 0, got -2.000000");
  // +inf is rejected as not finite (before the sign test).
  CHECK(thrown_message([] { detail::require_positive("scale", lim::infinity()); }) ==
        "unitsface: argument 'scale': must be finite, got inf");
}

TEST_CASE("the scalar checks accept integer arguments", "[core][error]") {
  CHECK_NOTHROW(detail::require_finite_scalar("count", 3));
  CHECK_NOTHROW(detail::require_positive("count", index_t(1)));
  CHECK(thrown_argument([] { detail::require_positive("count", 0); }) == "count");
  CHECK(thrown_message([] { detail::require_positive("count", -4); }) ==
        "unitsface: argument 'count': must be > 0, got -4");
}
