// unitsface: the common body of every pairwise loss call: validate, build the driver, run
// the kernel, turn column sums into bias gradients.
#pragma once

#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/detail/evaluate.hpp"
#include "unitsface/losses/detail/validate.hpp"
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
  vector_view<const T> upstream;        ///< reduction none: per-anchor upstream gradient
};

inline pairing make_pairing(const index_t* labels, const unsigned char* valid, index_t offset,
                            bool in_batch) {
  pairing p;
  p.anchor_labels = labels;
  p.ref_valid = valid;
  p.label_offset = offset;
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
      make_pairing(c.labels.data, c.refs.valid, c.refs.label_offset, in_batch),
      c.grads != nullptr && !c.grads->weight.empty(), eo.tile_columns);
}

template <class Policy, class T>
void validate_call(const Policy& pol, const call<T>& c, const evaluation_options& eo) {
  validate_inputs(pol, c.x, c.labels, c.refs, eo.validate);
  if (c.grads != nullptr) validate_gradients(c.x, c.refs, *c.grads);
  if (!c.per_anchor.empty() || eo.reduce == reduction::none) {
    if (!c.per_anchor.empty()) {
      require_size("per_anchor", c.per_anchor.size(), c.x.rows);
      require(c.per_anchor.stride == 1, "per_anchor", "must be contiguous (stride 1)");
    }
  }
  if (!c.upstream.empty()) {
    require(eo.reduce == reduction::none, "upstream", "is only used with reduction::none");
    require_size("upstream", c.upstream.size(), c.x.rows);
    require(c.upstream.stride == 1, "upstream", "must be contiguous (stride 1)");
  }
}

/// Runs kernel `k` for call `c`. With a bias kernel, `bias_host` is the bias the kernel was
/// built on (1 value, or one per reference row of the full class set) and grad_bias comes back
/// in the same layout; `s` converts cosine gradients into bias gradients (d/db = -(1/s) d/dc).
template <class Policy, class T, class K>
loss_result<T> run(tile_driver<Policy, T>& drv, const Policy& pol, const call<T>& c,
                   const evaluation_options& eo, const K& k, const std::vector<T>& bias_host,
                   bool bias_per_column, T s) {
  eval_request<T> req;
  req.red = eo.reduce;
  req.grad = c.grads != nullptr;
  if (req.grad) {
    req.grad_x = c.grads->input;
    req.grad_refs = c.grads->weight;
  }
  req.upstream = c.upstream.empty() ? nullptr : c.upstream.data;
  req.per_anchor = c.per_anchor.empty() ? nullptr : c.per_anchor.data;
  eval_result<T> e = evaluate(drv, pol, k, req);

  loss_result<T> out;
  out.loss = e.loss;
  if constexpr (K::has_bias) {
    out.bias_used = bias_host;
    if (req.grad) {
      out.grad_bias.assign(bias_host.size(), T(0));
      if (bias_per_column) {
        for (std::size_t j = 0; j < e.column_sums.size(); ++j) {
          out.grad_bias[static_cast<std::size_t>(c.refs.label_offset) + j] = -e.column_sums[j] / s;
        }
      } else {
        T acc = T(0);
        for (T v : e.column_sums) acc += v;
        out.grad_bias[0] = -acc / s;
      }
    }
  }
  return out;
}

}  // namespace unitsface::losses::detail
