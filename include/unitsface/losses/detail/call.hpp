// unitsface: one loss call, as the evaluation reads it.
#pragma once

#include "unitsface/core/collective.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses::detail {

/// Everything about one call that does not depend on the kernel.
template <class T>
struct call {
  matrix_view<const T> x;
  vector_view<const index_t> labels;
  references<T> refs;
  const gradients<T>* grads = nullptr;  ///< null: forward only
  vector_view<T> per_anchor;            ///< optional per-anchor losses out
  vector_view<const T> upstream;        ///< upstream gradient: B values (none) or 1 (mean, sum)
  T* loss_out = nullptr;        ///< forward only: the loss goes here (policy memory), not read back
  bool values_checked = false;  ///< the caller has made the value checks (labels, NaN/Inf)
  /// With values_checked: all but the references' NaN/Inf, which the tile driver checks
  /// (driver_checks_references in run.hpp says where it can).
  bool check_reference_values = false;
  bool gradients_only = false;  ///< backward(): the gradients are the result, not the loss
  /// The ranks holding the other shards of the references (unitsface::distributed), or null:
  /// `refs` is the whole set.
  collective* comm = nullptr;
};

}  // namespace unitsface::losses::detail
