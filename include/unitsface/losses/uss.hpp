// unitsface: the USS loss (Unified threshold integrated Sample-to-Sample) and USS-m.
#pragma once

#include "unitsface/losses/binary_loss.hpp"

namespace unitsface::losses {

/// USS-m: one learnable, unified bias b (threshold t = b / s) between positive and negative
/// sample-to-sample pairs, paper Eq. 12 with margin m (m = 0: plain USS):
///   l_i = sum_p softplus(-(s (c_ip - m) - b)) + sum_n softplus(s c_in - b).
/// Defaults are the official code's (`head.py`, class
/// Unified_Threshold_Integrated_Sample_to_Sample_Loss): s = 64, m = 0.1, b = 0 initialised
/// from the data on the first forward, the clamp to [-s, s], per-pair form, mean reduction.
/// The references are usually the feature memory (references::memory) or the batch itself
/// (references::in_batch).
template <class T>
class uss_loss : public binary_loss<T> {
 public:
  using options = binary_options<T>;
  explicit uss_loss(const options& o = options{}) : binary_loss<T>(o, false, 1, T(0)) {}
};

}  // namespace unitsface::losses
