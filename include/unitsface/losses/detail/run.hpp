// unitsface: the common body of every pairwise loss call: validate, build the driver, run
// the kernel, turn column sums into bias gradients.
#pragma once

#include <cstdint>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/detail/evaluate.hpp"
#include "unitsface/losses/detail/validate.hpp"
#include "unitsface/losses/detail/validate_shards.hpp"
#include "unitsface/losses/loss_result.hpp"
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
  bool gradients_only = false;  ///< backward(): the gradients are the result, not the loss
  /// The ranks holding the other shards of the references (unitsface::distributed), or null:
  /// `refs` is the whole set.
  collective* comm = nullptr;
};

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

template <class Policy, class T>
tile_driver<Policy, T> make_driver(const Policy& pol, const call<T>& c,
                                   const evaluation_options& eo) {
  const bool in_batch = c.refs.kind == reference_kind::in_batch;
  return tile_driver<Policy, T>(
      pol, c.x, c.refs.rows, in_batch,
      make_pairing(c.labels.data, c.refs.valid, c.refs.label_offset, in_batch, c.refs.row_classes),
      c.grads != nullptr && !c.grads->weight.empty(), eo.tile_columns, eo.cosine_cache_bytes,
      c.refs.unit_rows);
}

template <class Policy, class T>
void validate_local(const Policy& pol, const call<T>& c, const evaluation_options& eo,
                    index_t bias_size, bool check_values, bool shard_of_many) {
  require(eo.tile_columns >= 0, "tile_columns", "must be >= 0 (0: the default width)");
  validate_inputs(pol, c.x, c.labels, c.refs, check_values, shard_of_many);
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

/// `bias_size`: the number of biases of the loss (0: none); `loss_checks`: the loss's own
/// checks of the call, run after the common ones. Over class shards (c.comm) the checks are
/// made collectively (validate_shards.hpp), and `parameters`, a fingerprint of what the loss
/// computes with (its options, a scalar bias), must be the same on every rank.
template <class Policy, class T, class Checks = no_checks>
void validate_call(const Policy& pol, const call<T>& c, const evaluation_options& eo,
                   index_t bias_size = 0, std::uint64_t parameters = 0,
                   const Checks& loss_checks = {}) {
  const bool values = eo.validate && !c.values_checked;
  if (c.comm != nullptr) {
    validate_shards(*c.comm, pol, c.x, c.labels, c.refs, bias_size, parameters, values, [&] {
      validate_local(pol, c, eo, bias_size, false, true);
      loss_checks();
    });
  } else {
    validate_local(pol, c, eo, bias_size, values, false);
    loss_checks();
  }
}

/// Runs kernel `k` for call `c`. With a bias kernel, `bias_host` is the bias the kernel was
/// built on (1 value, or one per class) and the bias gradient comes back in the same layout
/// (or goes to gradients::bias); `s` converts cosine gradients into bias gradients
/// (d/db = -(1/s) d/dc).
template <class Policy, class T, class K>
loss_result<T> run(tile_driver<Policy, T>& drv, const Policy& pol, const call<T>& c,
                   const evaluation_options& eo, const K& k, const std::vector<T>& bias_host,
                   bool bias_per_column, T s) {
  eval_request<T> req;
  req.red = eo.reduce;
  req.grad = c.grads != nullptr;
  req.loss_out = c.loss_out;
  if (req.grad) {
    req.grad_x = c.grads->input;
    req.grad_refs = c.grads->weight;
    req.loss_out = c.grads->loss;
    req.bias_out = c.grads->bias.empty() ? nullptr : c.grads->bias.data;
  }
  req.comm = c.comm;
  req.upstream = c.upstream.empty() ? nullptr : c.upstream.data;
  req.per_anchor = c.per_anchor.empty() ? nullptr : c.per_anchor.data;
  req.bias_scale = T(-1) / s;
  req.bias_per_column = bias_per_column;
  req.bias_size = static_cast<index_t>(bias_host.size());
  req.bias_offset = bias_per_column ? c.refs.label_offset : 0;
  eval_result<T> e = evaluate(drv, pol, k, req);

  loss_result<T> out;
  out.loss = e.loss;
  if constexpr (K::has_bias) {
    out.bias_used = bias_host;
    out.grad_bias = std::move(e.grad_bias);
  }
  return out;
}

}  // namespace unitsface::losses::detail
