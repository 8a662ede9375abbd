// unitsface: what a loss call returns, and the options every pairwise loss shares.
#pragma once

#include <cstddef>
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
  /// The largest B x N cosine matrix (bytes) a loss with statistics passes (softmax heads,
  /// ss_softmax, the log-of-sums USS) keeps from its first pass to its element pass instead of
  /// computing every tile again; 0: always recompute. 256 MiB (the library's choice): a
  /// 512-anchor float batch over up to 131,072 classes. Not used where the references fit in
  /// one tile (that tile is kept anyway).
  std::size_t cosine_cache_bytes = std::size_t(256) << 20;
};

}  // namespace unitsface::losses
