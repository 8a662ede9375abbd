// unitsface: the common body of every pairwise loss call: validate, build the driver, run
// the kernel, turn column sums into bias gradients.
#pragma once

#include <cstdint>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/detail/call.hpp"
#include "unitsface/losses/detail/evaluate.hpp"
#include "unitsface/losses/detail/validate.hpp"
#include "unitsface/losses/detail/validate_shards.hpp"
#include "unitsface/losses/loss_result.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses::detail {

inline pairing make_pairing(const index_t* labels, const unsigned char* valid, index_t offset,
                            bool in_batch, const index_t* row_classes = nullptr) {
  pairing p;
  p.anchor_labels = labels;
  p.ref_valid = valid;
  p.label_offset = offset;
  p.ref_labels = row_classes;
  if (in_batch) {
    p.ref_labels = labels;
    p.exclude_self = true;
    p.ref_valid = nullptr;
  }
  return p;
}

/// Whether the tile driver can check the references' NaN/Inf itself (tile_driver's
/// check_references) instead of the call's value check: host memory, one process (over
/// shards the checks are collective), references that the driver normalises and whose owner
/// has not checked them. Where the call's first walk is a statistics pass
/// (`statistics_first`), which finds every reference's norm before anything is written
/// (normalising, or for raw references reading), the check is the norms' (CosFace, 512 x
/// 85,742 x 512 float: 17 ms of a 660 ms call saved on a 2-core AVX-512 Xeon VM); a call
/// without one is checked as before (validate_call).
template <class Policy, class T>
bool driver_checks_references(const call<T>& c, bool statistics_first = true) {
  return statistics_first && Policy::host_memory && c.comm == nullptr &&
         c.refs.kind != reference_kind::in_batch && c.refs.unit_rows.data == nullptr &&
         !c.refs.rows_checked;
}

/// `statistics_first`: the loss's kernel starts with a statistics pass (driver_checks_references);
/// `raw_weights`: class weights may be used without a normalised copy
/// (tile_driver::uses_raw_references; not for a bias per class).
template <class Policy, class T>
tile_driver<Policy, T> make_driver(const Policy& pol, const call<T>& c,
                                   const evaluation_options& eo, bool statistics_first,
                                   bool raw_weights) {
  const bool in_batch = c.refs.kind == reference_kind::in_batch;
  // c.check_reference_values: a caller left the references' check to this call (on the
  // conditions of driver_checks_references, a statistics pass first or not: without one the
  // driver counts every value before its element pass).
  const bool check =
      c.check_reference_values ||
      (eo.validate && !c.values_checked && driver_checks_references<Policy>(c, statistics_first));
  return tile_driver<Policy, T>(
      pol, c.x, c.refs.rows, in_batch,
      make_pairing(c.labels.data, c.refs.valid, c.refs.label_offset, in_batch, c.refs.row_classes),
      c.grads != nullptr && !c.grads->weight.empty(), eo.tile_columns, eo.cosine_cache_bytes,
      c.refs.unit_rows,
      !check                                  ? nullptr
      : c.refs.kind == reference_kind::memory ? "memory"
                                              : "weight",
      raw_weights && c.refs.kind == reference_kind::class_weights);
}

template <class Policy, class T>
void validate_local(const Policy& pol, const call<T>& c, const evaluation_options& eo,
                    index_t bias_size, bool check_values, bool shard_of_many,
                    bool statistics_first) {
  require(eo.tile_columns >= 0, "tile_columns", "must be >= 0 (0: the default width)");
  validate_inputs(pol, c.x, c.labels, c.refs, check_values, shard_of_many,
                  !driver_checks_references<Policy>(c, statistics_first));
  if (c.grads != nullptr) validate_gradients(c.x, c.refs, *c.grads, bias_size);
  if (!c.per_anchor.empty()) {
    require_size("per_anchor", c.per_anchor.size(), c.x.rows);
    require(c.per_anchor.data != nullptr, "per_anchor", "null data");
    require(c.per_anchor.stride == 1, "per_anchor", "must be contiguous (stride 1)");
  }
  if (!c.upstream.empty()) {
    // reduction::none: d outer / d loss_i, one per anchor; mean and sum: d outer / d loss,
    // one scalar.
    require_size("upstream", c.upstream.size(), eo.reduce == reduction::none ? c.x.rows : 1);
    require(c.upstream.data != nullptr, "upstream", "null data");
    require(c.upstream.stride == 1, "upstream", "must be contiguous (stride 1)");
  }
  // reduction::none means the B losses are the result: without an output for them the call
  // would return their sum, which is reduction::sum's value under another name.
  require(eo.reduce != reduction::none || !c.per_anchor.empty() || c.gradients_only, "per_anchor",
          "reduction::none needs an output for the B per-anchor losses");
}

struct no_checks {
  void operator()() const {}
};

/// `statistics_first`: the loss's kernel starts with a statistics pass (see
/// driver_checks_references); `bias_size`: the number of biases of the loss (0: none);
/// `loss_checks`: the loss's own checks of the call, run after the common ones. Over class shards
/// (c.comm) the checks are made collectively (validate_shards.hpp), and `parameters`, a fingerprint
/// of what the loss computes with (its options, a scalar bias), must be the same on every rank.
template <class Policy, class T, class Checks = no_checks>
void validate_call(const Policy& pol, const call<T>& c, const evaluation_options& eo,
                   bool statistics_first, index_t bias_size = 0, std::uint64_t parameters = 0,
                   const Checks& loss_checks = {}) {
  const bool values = eo.validate && !c.values_checked;
  if (c.comm != nullptr) {
    validate_shards(*c.comm, pol, c.x, c.labels, c.refs, bias_size, parameters, values, [&] {
      validate_local(pol, c, eo, bias_size, false, true, statistics_first);
      loss_checks();
    });
  } else {
    validate_local(pol, c, eo, bias_size, values, false, statistics_first);
    loss_checks();
  }
}

/// Runs kernel `k` for call `c`. With a bias kernel, `bias_host` is the bias the kernel was
/// built on (1 value, or one per class), returned as loss_result::bias_used, and the bias
/// gradient comes back in the same layout (or goes to gradients::bias); `s` converts cosine
/// gradients into bias gradients (d/db = -(1/s) d/dc).
template <class Policy, class T, class K>
loss_result<T> run(tile_driver<Policy, T>& drv, const Policy& pol, const call<T>& c,
                   const evaluation_options& eo, const K& k, const std::vector<T>& bias_host,
                   bool bias_per_column, T s) {
  const bias_layout<T> bias{T(-1) / s, bias_per_column, static_cast<index_t>(bias_host.size()),
                            bias_per_column ? c.refs.label_offset : 0};
  loss_result<T> out = evaluate(drv, pol, k, c, eo.reduce, bias);
  if constexpr (K::has_bias) out.bias_used = bias_host;
  return out;
}

}  // namespace unitsface::losses::detail
