// unitsface: what an execution policy is, as a concept.
#pragma once

#include <concepts>

namespace unitsface {

/// An execution policy (core/policy.hpp): it says where its data lives (`host_memory`) and
/// has a name; every primitive it does not override falls back to the generic version
/// (backends/primitives.hpp), so nothing else is required of it.
template <class P>
concept execution_policy = std::copy_constructible<P> && requires {
  { P::host_memory } -> std::convertible_to<bool>;
  { P::name } -> std::convertible_to<const char*>;
};

}  // namespace unitsface
