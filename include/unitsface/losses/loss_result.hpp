// unitsface: what a loss call returns, and the options every pairwise loss shares.
#pragma once

#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/reduction.hpp"

namespace unitsface::losses {

/// The result of forward / backward / forward_backward.
template <class T>
struct loss_result {
  T loss = T(0);             ///< reduced loss; the sum of the per-anchor losses for none
  std::vector<T> bias_used;  ///< the bias the loss was evaluated with (after any initialisation)
  std::vector<T> grad_bias;  ///< d loss / d bias (empty for forward, or a loss without bias)
};

/// How a loss is evaluated, whatever its formula.
struct evaluation_options {
  reduction reduce = reduction::mean;  ///< official: mean over the batch
  index_t tile_columns = 0;            ///< references per tile; 0 = about 2^22 cosines a tile
  bool validate = true;                ///< check shapes always; with true also NaN/Inf and labels
};

}  // namespace unitsface::losses
