// unitsface: the exceptions thrown for bad input, and the checks that throw them.
//
// Every check names the argument at fault, so that a caller who passes a wrong shape, a
// label out of range or a NaN learns which argument to look at. Nothing in unitsface reads
// out of bounds or returns a silently wrong number on bad input: it throws one of these.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>

#include "unitsface/core/config.hpp"

namespace unitsface {

/// Thrown when an argument is malformed: wrong shape, value out of range, NaN/Inf, empty.
/// `argument()` gives the name of the offending argument as the API documents it.
class invalid_argument : public std::invalid_argument {
 public:
  invalid_argument(std::string_view argument, const std::string& what)
      : std::invalid_argument("unitsface: argument '" + std::string(argument) + "': " + what),
        argument_(argument) {}
  const std::string& argument() const noexcept { return argument_; }

 private:
  std::string argument_;
};

namespace detail {

inline void require(bool ok, std::string_view argument, const std::string& what) {
  if (!ok) throw invalid_argument(argument, what);
}

/// Shape check with a message that shows both shapes.
inline void require_shape(std::string_view argument, index_t rows, index_t cols, index_t want_rows,
                          index_t want_cols) {
  if (rows != want_rows || cols != want_cols) {
    throw invalid_argument(argument, "expected shape " + std::to_string(want_rows) + "x" +
                                         std::to_string(want_cols) + ", got " +
                                         std::to_string(rows) + "x" + std::to_string(cols));
  }
}

inline void require_size(std::string_view argument, index_t size, index_t want) {
  if (size != want) {
    throw invalid_argument(
        argument, "expected " + std::to_string(want) + " elements, got " + std::to_string(size));
  }
}

template <class T>
void require_finite_scalar(std::string_view argument, T value) {
  if (!std::isfinite(static_cast<double>(value))) {
    throw invalid_argument(argument, "must be finite, got " + std::to_string(value));
  }
}

template <class T>
void require_positive(std::string_view argument, T value) {
  require_finite_scalar(argument, value);
  if (!(value > T(0))) {
    throw invalid_argument(argument, "must be > 0, got " + std::to_string(value));
  }
}

}  // namespace detail
}  // namespace unitsface
