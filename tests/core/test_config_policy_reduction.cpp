// config.hpp, policy.hpp and reduction.hpp: the index type, the host/device annotation, the
// version macros, the host policy's traits and the reduction enumeration.
#include "unitsface/core/config.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/core/policy_concept.hpp"
#include "unitsface/core/reduction.hpp"
#include "unitsface/core/workspace.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

using namespace unitsface;

#define UF_TEST_STR_(x) #x
#define UF_TEST_STR(x) UF_TEST_STR_(x)

namespace {
// A function carrying the annotation must compile as a plain host function without nvcc.
UNITSFACE_HD constexpr int annotated_twice(int v) {
  return 2 * v;
}
}  // namespace

TEST_CASE("index_t is a signed 64-bit integer", "[core][config]") {
  STATIC_REQUIRE(std::is_same_v<index_t, std::int64_t>);
  // Counts of 1e12 pairs (the size the header promises) and differences of two indices.
  CHECK(std::numeric_limits<index_t>::max() >= index_t(1'000'000'000'000));
  CHECK(index_t(2) - index_t(3) == index_t(-1));
  const index_t rows = 3'000'000, cols = 1'000'000;
  CHECK(rows * cols == index_t(3'000'000'000'000));
}

TEST_CASE("UNITSFACE_HD is empty without a CUDA compiler", "[core][config]") {
  // Under g++ or clang the annotation must vanish, or host code would not compile.
  CHECK(std::string_view(UF_TEST_STR(UNITSFACE_HD)).empty());
  STATIC_REQUIRE(annotated_twice(21) == 42);
}

TEST_CASE("the version macros match the CMake project version", "[core][config]") {
  // find_package(unitsface <version>) checks the CMake version; code checks the macros.
  const std::string header = std::to_string(UNITSFACE_VERSION_MAJOR) + "." +
                             std::to_string(UNITSFACE_VERSION_MINOR) + "." +
                             std::to_string(UNITSFACE_VERSION_PATCH);
  CHECK(header == UNITSFACE_TEST_PROJECT_VERSION);
}

TEST_CASE("host_policy describes sequential host execution", "[core][policy]") {
  STATIC_REQUIRE(host_policy::host_memory);
  STATIC_REQUIRE(std::is_same_v<std::remove_const_t<decltype(seq)>, host_policy>);
  // Policies are passed by value to every algorithm: they carry no state.
  STATIC_REQUIRE(std::is_empty_v<host_policy>);
  STATIC_REQUIRE(std::is_trivially_copyable_v<host_policy>);
  // The traits are usable in constant expressions (dispatch on them is compile-time).
  constexpr bool from_object = decltype(seq)::host_memory;
  STATIC_REQUIRE(from_object);
  CHECK(std::string_view(host_policy::name) == "host");
  CHECK(std::string_view(seq.name) == "host");
}

namespace {
struct no_traits {};  // not a policy: it says neither where its data lives nor its name
struct nameless {
  static constexpr bool host_memory = true;
};
}  // namespace

TEST_CASE("execution_policy: the policies and their derived forms model it", "[core][policy]") {
  STATIC_REQUIRE(execution_policy<host_policy>);
  STATIC_REQUIRE(execution_policy<workspace_policy<host_policy>>);
  STATIC_REQUIRE_FALSE(execution_policy<no_traits>);
  STATIC_REQUIRE_FALSE(execution_policy<nameless>);
  STATIC_REQUIRE_FALSE(execution_policy<int>);
}

TEST_CASE("reduction has three distinct scoped enumerators", "[core][reduction]") {
  STATIC_REQUIRE(std::is_enum_v<reduction>);
  // Scoped: a reduction cannot be passed where a count or a flag is expected, or vice versa.
  STATIC_REQUIRE(!std::is_convertible_v<reduction, int>);
  STATIC_REQUIRE(!std::is_convertible_v<int, reduction>);
  CHECK(reduction::mean != reduction::sum);
  CHECK(reduction::mean != reduction::none);
  CHECK(reduction::sum != reduction::none);
}
