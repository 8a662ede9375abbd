// unitsface metrics: the input checks shared by every metric.
//
// Each check throws unitsface::invalid_argument naming the argument as the public API spells
// it, so that "labels", "scores" or "far_targets" in a message points at the caller's input.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::metrics::detail {

using unitsface::detail::require;
using unitsface::detail::require_shape;
using unitsface::detail::require_size;

/// True for a genuine label (1), false for an impostor label (0); throws for anything else
/// (2, -1, 0.5, NaN), since a silently mis-read label changes every rate.
template <class L>
bool genuine_label(L value, index_t i, std::string_view argument) {
  if (value == L(1)) return true;
  if (value == L(0)) return false;
  if constexpr (std::is_floating_point_v<L>) {
    throw invalid_argument(argument, "labels must be 0 or 1, got " + std::to_string(value) +
                                         " at index " + std::to_string(i));
  } else {
    throw invalid_argument(argument, "labels must be 0 or 1, got " +
                                         std::to_string(static_cast<long long>(value)) +
                                         " at index " + std::to_string(i));
  }
}

/// Scores must be finite: NaN has no place in an order, and +-inf collide with the +inf
/// threshold of the first ROC point (scikit-learn rejects both as well).
template <class T>
void require_finite_score(T value, index_t i, std::string_view argument) {
  if (!std::isfinite(value)) {
    throw invalid_argument(argument, "scores must be finite, got " + std::to_string(value) +
                                         " at index " + std::to_string(i));
  }
}

inline void require_far_target(double target, std::string_view argument) {
  // Written so that NaN fails too.
  if (!(target > 0.0 && target <= 1.0)) {
    throw invalid_argument(argument,
                           "FAR targets must lie in (0, 1], got " + std::to_string(target));
  }
}

inline void require_far_targets(const std::vector<double>& targets, std::string_view argument) {
  require(!targets.empty(), argument, "at least one FAR target is needed");
  for (double t : targets) require_far_target(t, argument);
}

/// Both classes must be present: a rate over zero pairs is undefined.
inline void require_both_classes(index_t genuine, index_t impostor, std::string_view argument) {
  require(genuine + impostor > 0, argument, "the score set is empty");
  require(genuine > 0, argument, "no genuine pair (label 1)");
  require(impostor > 0, argument, "no impostor pair (label 0)");
}

}  // namespace unitsface::metrics::detail
