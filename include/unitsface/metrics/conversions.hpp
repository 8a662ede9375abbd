// unitsface metrics: cosine similarity <-> squared L2 distance of unit vectors.
//
// For unit vectors a, b: |a - b|^2 = 2 - 2 cos(a, b). A similarity threshold t (accept when
// cos >= t) is the distance threshold 2 - 2t (accept when d^2 <= 2 - 2t); insightface's LFW
// protocol accepts when d^2 < threshold, so at a tie the two conventions differ by one pair.
#pragma once

#include "unitsface/core/config.hpp"

namespace unitsface::metrics {

template <class T>
UNITSFACE_HD constexpr T cos_to_squared_l2(T cos_similarity) {
  return T(2) - T(2) * cos_similarity;
}

template <class T>
UNITSFACE_HD constexpr T squared_l2_to_cos(T squared_distance) {
  return T(1) - squared_distance / T(2);
}

}  // namespace unitsface::metrics
