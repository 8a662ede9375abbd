// unitsface: per-anchor statistics gathered over the references before the loss is known.
#pragma once

#include "unitsface/core/config.hpp"
#include "unitsface/core/math.hpp"

namespace unitsface::losses {

/// What a loss kernel may accumulate for one anchor while the driver walks the reference
/// tiles: a logsumexp over positives and one over negatives, counts, and two plain sums for
/// kernels that need a second pass. Every field merges exactly (merge()), so the statistics
/// of shards of the references combine into those of the whole — the step a class-sharded
/// (multi-device) loss all-reduces between its passes.
template <class T>
struct row_stats {
  math::lse_accumulator<T> pos;
  math::lse_accumulator<T> neg;
  T aux = T(0);       ///< a kernel-defined sum (second pass)
  T aux_loss = T(0);  ///< a kernel-defined loss sum (second pass)
  /// Values a kernel derives from the merged statistics after a pass (finish_pass), so that
  /// the element pass does not take a logarithm per element. Not merged.
  T cache0 = T(0);
  T cache1 = T(0);
  index_t n_pos = 0;
  index_t n_neg = 0;

  UNITSFACE_HD void merge(const row_stats& o) {
    pos.merge(o.pos);
    neg.merge(o.neg);
    aux += o.aux;
    aux_loss += o.aux_loss;
    n_pos += o.n_pos;
    n_neg += o.n_neg;
  }
};

/// One element's contribution: its loss term and d(loss)/d(cosine).
template <class T>
struct element_value {
  T loss;
  T dcos;
};

}  // namespace unitsface::losses
