// unitsface: how per-anchor losses are reduced to the value a loss returns.
#pragma once

namespace unitsface {

/// Batch reduction. `mean` is the official one (PyTorch's default): the per-anchor losses
/// are summed and divided by the batch size B (anchors without positives still count).
enum class reduction {
  mean,  ///< sum over anchors / B (official)
  sum,   ///< sum over anchors
  none,  ///< one loss per anchor; backward takes one upstream gradient per anchor
};

}  // namespace unitsface
