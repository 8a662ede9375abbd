// Test support: which argument a unitsface::invalid_argument names.
#pragma once

#include <exception>
#include <string>

#include "unitsface/core/error.hpp"

namespace unitsface::test {

/// The argument name of the unitsface::invalid_argument thrown by f, or a marker saying what
/// happened instead (another exception, or none).
template <class F>
std::string thrown_argument(F&& f) {
  try {
    f();
  } catch (const unitsface::invalid_argument& e) {
    return e.argument();
  } catch (const std::exception& e) {
    return std::string("<other exception: ") + e.what() + ">";
  } catch (...) {
    return "<other exception>";
  }
  return "<no exception>";
}

}  // namespace unitsface::test
