// unitsface: which (anchor, reference) pairs are positives, negatives, or not pairs at all.
#pragma once

#include "unitsface/core/config.hpp"

namespace unitsface::losses {

/// The role of reference j for anchor i.
enum class pair_kind : unsigned char {
  skip,      ///< no pair: an unwritten memory row, or the anchor itself (in-batch pairs)
  positive,  ///< same identity
  negative,  ///< another identity
};

/// Classifies pairs; a plain struct of pointers so that it runs in device code too.
///
/// Reference j (a local index inside the references the driver was given) carries the label
/// `ref_labels[j]`, or `label_offset + j` when `ref_labels` is null (one reference per class:
/// class weights or the per-identity memory; `label_offset` is the first class of a shard).
struct pairing {
  const index_t* anchor_labels = nullptr;    ///< B labels
  const index_t* ref_labels = nullptr;       ///< N labels, or null for label_offset + j
  const unsigned char* ref_valid = nullptr;  ///< N flags, or null: every row is valid
  index_t label_offset = 0;
  bool exclude_self = false;  ///< in-batch pairs: reference i is anchor i and is skipped

  UNITSFACE_HD pair_kind operator()(index_t i, index_t j) const {
    if (exclude_self && i == j) return pair_kind::skip;
    if (ref_valid != nullptr && ref_valid[j] == 0) return pair_kind::skip;
    const index_t rl = ref_labels != nullptr ? ref_labels[j] : label_offset + j;
    return rl == anchor_labels[i] ? pair_kind::positive : pair_kind::negative;
  }
};

}  // namespace unitsface::losses
