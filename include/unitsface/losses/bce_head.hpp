// unitsface: the BCE and UCE sample-to-class heads.
#pragma once

#include <cmath>

#include "unitsface/losses/binary_loss.hpp"

namespace unitsface::losses {

/// Options of the BCE / UCE heads: the official defaults (`head.py`): s = 64, m = 0.4, the
/// clamp, and a fixed bias initialised to log(10 C).
template <class T>
binary_options<T> head_options() {
  binary_options<T> o;
  o.m = T(0.4);
  o.init = bias_init::fixed;
  return o;
}

/// The official initial bias of the BCE and UCE heads, log(10 C).
template <class T>
T head_initial_bias(index_t classes) {
  detail::require(classes >= 1, "classes", "must be >= 1");
  return static_cast<T>(std::log(10.0 * static_cast<double>(classes)));
}

/// BCE head (official `Normalized_BCE_Loss`): per-class bias b_j,
///   z_p = s (c - m) - b_y,  z_n = s c - b_j,  l_i = sum_j softplus(+-z), clamped.
template <class T>
class bce_head : public binary_loss<T> {
 public:
  using options = binary_options<T>;
  explicit bce_head(index_t classes, const options& o = head_options<T>())
      : binary_loss<T>(o, true, classes, head_initial_bias<T>(classes)) {}
};

/// UCE head (UniFace, official `Unified_Cross_Entropy_Loss`): the BCE head with one scalar
/// bias for every class.
template <class T>
class uce_head : public binary_loss<T> {
 public:
  using options = binary_options<T>;
  explicit uce_head(index_t classes, const options& o = head_options<T>())
      : binary_loss<T>(o, false, 1, head_initial_bias<T>(classes)) {}
};

}  // namespace unitsface::losses
