// unitsface: the sample-to-sample BCE loss (one bias per identity).
#pragma once

#include "unitsface/losses/binary_loss.hpp"

namespace unitsface::losses {

/// Sample-to-sample BCE (official `Sample_to_Sample_Based_BCE_Loss`): the per-pair form with
/// one bias per memory row: the positive term uses b_{y_i}, negative j uses b_j. The biases
/// start at zero; when their mean is <= 0 a forward first adds mean_i LSE_n(s c_in) to each.
/// Defaults: s = 64, m = 0.1, clamp, mean reduction (official).
template <class T>
class ss_bce_loss : public binary_loss<T> {
 public:
  using options = binary_options<T>;
  /// `identities`: the number of memory rows (one bias each).
  explicit ss_bce_loss(index_t identities, const options& o = options{})
      : binary_loss<T>(o, true, identities, T(0)) {}
};

}  // namespace unitsface::losses
