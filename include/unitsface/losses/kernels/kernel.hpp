// unitsface: what a loss kernel is (the contract the tile driver calls), as a concept.
#pragma once

#include <concepts>

#include "unitsface/core/config.hpp"
#include "unitsface/losses/pairing.hpp"
#include "unitsface/losses/row_stats.hpp"

namespace unitsface::losses::kernels {

/// A loss kernel for scalar type T: the per-element math of one loss, written once and called
/// by the driver (losses/detail/driver.hpp) from host and device code.
///   stats                           the per-anchor statistics (losses/row_stats.hpp)
///   stat_passes                     statistics passes over the references before the
///                                   element pass (0, 1 or 2)
///   has_bias                        d loss / d bias comes from the sums of d loss / d cos
///   accumulate(pass, st, c, kind, j)  adds pair (i, j) to anchor i's statistics
///   finish_pass(pass, st)           derives the kernel's cached values after a pass
///   row_loss(st)                    the anchor's term that is not a sum over pairs
///   element(c, kind, j, st)         a pair's loss term and d loss / d cos
/// Optional members let the host driver run rows as vectorised lanes (docs/architecture.md):
/// negatives_in_lse(pass) with negative_logit(c, j) (its stats then hold the negatives'
/// logsumexp as `neg`), negative_element(c, j, st), with_lane_form(f).
template <class K, class T>
concept loss_kernel = row_statistics<typename K::stats> &&
    requires(const K k, typename K::stats& st, const typename K::stats& cst, T c, pair_kind kind,
             index_t j, int pass) {
  { K::stat_passes } -> std::convertible_to<int>;
  { K::has_bias } -> std::convertible_to<bool>;
  k.accumulate(pass, st, c, kind, j);
  k.finish_pass(pass, st);
  { k.row_loss(cst) } -> std::convertible_to<T>;
  { k.element(c, kind, j, cst) } -> std::same_as<element_value<T>>;
};

}  // namespace unitsface::losses::kernels
