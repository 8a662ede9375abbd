// unitsface: the reference sets a pairwise loss compares its anchors with.
#pragma once

#include "unitsface/core/config.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::losses {

/// Classes [first, first + count) of `total`: the rows of the references (class weights,
/// per-class biases, memory rows) that one rank of a class-sharded loss holds.
struct class_range {
  index_t first = 0;
  index_t count = 0;
  index_t total = 0;
  index_t end() const { return first + count; }
  bool contains(index_t c) const { return c >= first && c < first + count; }
};

enum class reference_kind {
  class_weights,  ///< learnable class weights W (C x D); reference j is class j
  memory,         ///< the per-identity feature memory (C x D); not learnable
  in_batch,       ///< the anchors themselves; reference j has label y_j, j != i
};

/// A view of the references (policy memory) and how to read their labels.
///
/// Class weights and the memory hold one row per class: row j is class `label_offset + j`.
/// A shard of the classes (rows [k, k + n) of the full set) is described by
/// `shard(k, total)`: its losses' row statistics merge with the other shards'.
template <class T>
struct references {
  reference_kind kind = reference_kind::class_weights;
  matrix_view<const T> rows;             ///< N x D; empty for in_batch
  const unsigned char* valid = nullptr;  ///< memory: N flags (0 = never written), or null
  index_t label_offset = 0;              ///< class of row 0 (shards)
  index_t num_classes = -1;              ///< labels must lie in [0, num_classes); -1: N
  /// N classes, one per row (policy memory), or null: row j is class label_offset + j. Set
  /// for a sample of a shard's classes (distributed::sampled_shard), whose rows are the
  /// sampled ones.
  const index_t* row_classes = nullptr;
  /// The classes of the shard these rows were sampled from, [label_offset, label_offset +
  /// shard_classes); -1: the rows themselves (no sampling).
  index_t shard_classes = -1;
  /// `rows` normalised as a loss call would normalise them (F.normalize, eps 1e-5: the
  /// per-row normalisation of backends::normalize_rows), kept by their owner (the feature
  /// memory's mirror), or empty: the call normalises `rows` itself. Not for learnable rows.
  matrix_view<const T> unit_rows;
  /// The rows are known to be finite (their owner checks what it writes): the call does not
  /// scan them for NaN / Inf.
  bool rows_checked = false;

  static references weights(matrix_view<const T> w) {
    return references{reference_kind::class_weights, w, nullptr, 0, -1, nullptr, -1, {}, false};
  }
  static references memory(matrix_view<const T> m, const unsigned char* valid_rows = nullptr) {
    return references{reference_kind::memory, m, valid_rows, 0, -1, nullptr, -1, {}, false};
  }
  static references in_batch() {
    return references{reference_kind::in_batch, {}, nullptr, 0, -1, nullptr, -1, {}, false};
  }

  /// The same references over other rows (a copy of them, a sample): what belonged to the
  /// old rows (their normalised mirror, their owner's check) does not carry over.
  references with_rows(matrix_view<const T> r) const {
    references out = *this;
    out.rows = r;
    out.unit_rows = {};
    out.rows_checked = false;
    return out;
  }

  /// These rows are classes [first_class, first_class + rows.rows) of `total_classes`.
  references shard(index_t first_class, index_t total_classes) const {
    references r = *this;
    r.label_offset = first_class;
    r.num_classes = total_classes;
    return r;
  }
  /// These rows are the classes of `r` (r.count must be rows.rows).
  references shard(const class_range& r) const { return shard(r.first, r.total); }
  index_t classes() const {
    return num_classes >= 0 ? num_classes : label_offset + covered_classes();
  }
  /// The classes this shard covers: its rows, or the classes its rows were sampled from.
  index_t covered_classes() const { return shard_classes >= 0 ? shard_classes : rows.rows; }
  bool learnable() const { return kind == reference_kind::class_weights; }
};

/// Where backward writes its gradients (views of the policy's memory).
///
/// `loss` and `bias` keep the two small results in the policy's memory too: with both given,
/// validation off and the bias already initialised, a call reads nothing back from a device
/// (loss_result::loss is then NaN and loss_result::grad_bias empty).
template <class T>
struct gradients {
  matrix_view<T> input;   ///< B x D, d loss / d x: required by backward
  matrix_view<T> weight;  ///< N x D, d loss / d W for class weights; empty: not computed
  T* loss = nullptr;      ///< 1 value: the reduced loss is written here instead of read back
  vector_view<T> bias;    ///< 1 or C values: d loss / d bias is written here instead

  gradients() = default;
  gradients(matrix_view<T> input_, matrix_view<T> weight_ = {}, T* loss_ = nullptr,
            vector_view<T> bias_ = {})
      : input(input_), weight(weight_), loss(loss_), bias(bias_) {}
};

}  // namespace unitsface::losses
