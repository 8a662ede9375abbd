// unitsface: the working memory of one loss call, before making it.
//
// required_bytes(loss, call_size) is the memory the library allocates in the policy's memory
// during one call of that loss (forward, forward_backward or backward) beyond the caller's
// inputs and outputs: the tile driver's buffers (the normalised batch and its norms, one tile
// of normalised references and the N references' norms, or, for class weights on the CPUs,
// their norms and inverse norms alone (tile_driver::uses_raw_references), one tile of cosines,
// every cosine when a statistics pass keeps them within evaluation_options::cosine_cache_bytes, the
// row statistics, the per-anchor losses, d loss / d x_hat, the bias and its gradient sums). The
// formulas follow the allocations of losses/detail/driver.hpp and evaluate.hpp and count buffers
// that do not live at the same time, so the figure bounds the peak from above;
// tests/losses/test_sharded.cpp checks it against the peak a counting allocator measures (estimate
// >= measured >= estimate / 1.25) for every loss family and reference kind. The same formulas size
// one rank of a sharded call (distributed/memory_estimate.hpp). Not counted: the caller's arrays
// (x, labels, W, the memory, the gradients), the BLAS's own buffers (cuBLAS's workspace on a GPU)
// and the temporaries of a Thrust reduction (a few hundred bytes). The figure is the same for every
// CPU backend: each allocates these buffers in its own memory; a device policy's call differs
// by its tile and its rows' segments, which call_size says (on_policy(pol, c) fills them in).
#pragma once

#include <algorithm>
#include <cstddef>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/losses/binary_loss.hpp"
#include "unitsface/losses/detail/driver.hpp"
#include "unitsface/losses/embedded.hpp"
#include "unitsface/losses/kernels/log_of_sums.hpp"
#include "unitsface/losses/kernels/per_pair.hpp"
#include "unitsface/losses/kernels/softmax.hpp"
#include "unitsface/losses/kernels/ss_softmax.hpp"
#include "unitsface/losses/loss_result.hpp"
#include "unitsface/losses/references.hpp"
#include "unitsface/losses/softmax_head.hpp"
#include "unitsface/losses/ss_softmax.hpp"

namespace unitsface::losses {

/// The biases of a loss: none (softmax heads, ss_softmax), one scalar (USS, UCE head), one
/// per class (SS-BCE, BCE head).
enum class bias_kind { none, scalar, per_class };

/// One call to size: `batch` anchors of `dim` dimensions against references of a kind.
struct call_size {
  index_t batch = 0;  ///< B
  index_t dim = 0;    ///< D
  reference_kind references = reference_kind::class_weights;
  /// N: the class weights' rows or the memory's identities; ignored for in-batch pairs (the
  /// references are the batch).
  index_t reference_rows = 0;
  bool gradients = true;  ///< forward_backward or backward (false: forward)
  /// The references come with their normalised rows (feature_memory with keep_normalized,
  /// its default): no tile of them is normalised during the call.
  bool normalized_references = false;
  /// The policy's default tile in cosines (backends::default_tile_elements<Policy>()), or 0
  /// for the CPU backends' 2^22. on_policy() sets it.
  index_t tile_elements = 0;
  /// The policy splits rows into segments (backends::row_segments > 1: a device), whose
  /// partial results the call keeps. on_policy() sets it.
  bool row_segments = false;
};

/// `c` as the call runs on `pol`: its default tile and whether it splits rows (cuda_policy:
/// 2^25 cosines, 8 times the CPUs' tile, and segments).
template <class Policy>
call_size on_policy(const Policy& pol, call_size c) {
  c.tile_elements = backends::default_tile_elements<Policy>();
  c.row_segments = backends::row_segments(pol, 1, index_t(1) << 20) > 1;
  return c;
}

namespace detail {

/// A loss's part in sizing a call: its bias, whether its call makes statistics passes, its
/// evaluation options.
struct loss_traits {
  bias_kind bias = bias_kind::none;
  bool statistics = true;
  index_t tile_columns = 0;
  std::size_t cosine_cache_bytes = 0;
  std::size_t stats_bytes = 0;  ///< the largest statistics the call keeps per anchor
};

/// What sizes a call's working memory: the call, and the loss's part in it.
struct working_problem {
  index_t batch = 0, dim = 0;
  index_t references = 0;  ///< N evaluated (in-batch: B)
  bool in_batch = false;
  bool unit_references = false;  ///< no reference tile is normalised
  /// class weights used as they are (tile_driver::uses_raw_references): their norms and
  /// inverse norms instead of a normalised tile
  bool raw_references = false;
  bool masked = false;  ///< valid flags read as a per-tile mask (the memory, host lanes)
  bool gradients = true;
  /// The values of a per-class bias: every class's (a shard's call holds them all); 0: one
  /// per reference.
  index_t bias_classes = 0;
  index_t tile_elements = 0;  ///< call_size::tile_elements
  bool row_segments = false;  ///< call_size::row_segments
  loss_traits loss;
};

/// The largest statistics of any kernel (a bound where the loss is not known).
template <class T>
constexpr std::size_t largest_row_stats_bytes() {
  return std::max({sizeof(typename kernels::per_pair<T>::stats),
                   sizeof(typename kernels::log_of_sums<T>::stats),
                   sizeof(typename kernels::softmax<T, cosface_margin<T>>::stats),
                   sizeof(typename kernels::ss_softmax<T>::stats),
                   sizeof(typename kernels::negative_lse<T>::stats)});
}

/// The values a bias of this kind holds over n references.
inline index_t bias_values(bias_kind k, index_t n) {
  return k == bias_kind::per_class ? n : k == bias_kind::scalar ? 1 : 0;
}

/// The driver's and the evaluation's buffers for one call, in bytes (an upper bound of their
/// peak: see the file's comment). The callers check the shape (a shard may hold no reference).
template <class T>
std::size_t working_bytes(const working_problem& p) {
  const loss_traits& l = p.loss;
  unitsface::detail::require(l.tile_columns >= 0, "tile_columns", "must be >= 0");
  const auto sz = [](index_t n, std::size_t bytes) { return std::size_t(n) * bytes; };
  const std::size_t t = sizeof(T);
  const index_t B = p.batch, D = p.dim, N = p.references;
  using driver = tile_driver<host_policy, T>;
  const index_t tile = driver::tile_width(
      B, N, l.tile_columns, p.tile_elements > 0 ? p.tile_elements : driver::default_tile_elements);
  const index_t nbias = bias_values(l.bias, p.bias_classes > 0 ? p.bias_classes : N);
  std::size_t w = sz(B * D + B, t);  // x_hat, its norms
  if (!p.in_batch && !p.unit_references) {
    // every reference's norm, and a normalised tile or every reference's inverse norm
    w += sz(N + (p.raw_references ? N : tile * D), t);
  }
  w += sz(B * tile, t);  // a tile of cosines
  if (l.statistics && driver::keeps_cosines(B, N, tile, l.cosine_cache_bytes)) {
    w += sz(B * N, t);  // every cosine, kept between the passes
  }
  if (p.masked) w += sz(tile, t);  // a tile's valid flags as T
  w += sz(B, l.stats_bytes);       // the statistics
  w += sz(B, t);                   // the per-anchor losses
  if (p.gradients) {
    w += sz(B * D, t);  // d loss / d x_hat
    // the gradient sums (per anchor for a scalar bias, per column for one per class), the
    // bias gradient's own buffer, and a scalar bias's partial sums (evaluate.hpp: 256 chunks,
    // one below 256 anchors)
    const index_t partial = B < 256 ? 1 : 256;
    if (nbias > 0) w += sz(l.bias == bias_kind::scalar ? B + partial : N, t) + sz(nbias, t);
  }
  w += sz(nbias, t);  // the bias in the policy's memory
  if (p.row_segments) {
    // the segments' slots (driver.hpp): a statistics pass's partial statistics, the element
    // pass's partial losses and gradient sums
    const index_t segs = backends::device_row_segments(tile);
    if (l.statistics) w += sz(B * segs, l.stats_bytes);
    w += sz(2 * B * segs, t);
  }
  return w;
}

template <class T, class Margin>
loss_traits traits_of(const softmax_head<T, Margin>& l) {
  return {bias_kind::none, true, l.opts().tile_columns, l.opts().cosine_cache_bytes,
          sizeof(typename kernels::softmax<T, Margin>::stats)};
}
template <class T>
loss_traits traits_of(const ss_softmax_loss<T>& l) {
  return {bias_kind::none, true, l.opts().tile_columns, l.opts().cosine_cache_bytes,
          sizeof(typename kernels::ss_softmax<T>::stats)};
}
/// USS / USS-m, SS-BCE, the BCE and UCE heads. The log-of-sums form has statistics passes; so
/// has the next call when it initialises the bias from the data (binary_loss::initialises_bias:
/// the initialisation is a statistics pass, whose cosines the loss's own pass then reuses).
template <class T>
loss_traits traits_of(const binary_loss<T>& l) {
  const bool sums = l.opts().form == uss_form::log_of_sums;
  // The initialisation's statistics are freed before the loss's own are made: the larger counts.
  const std::size_t stats =
      std::max(sums ? sizeof(typename kernels::log_of_sums<T>::stats)
                    : sizeof(typename kernels::per_pair<T>::stats),
               l.initialises_bias() ? sizeof(typename kernels::negative_lse<T>::stats) : 0);
  return {l.per_column_bias() ? bias_kind::per_class : bias_kind::scalar,
          sums || l.initialises_bias(), l.opts().tile_columns, l.opts().cosine_cache_bytes, stats};
}

inline void require_call(const call_size& c) {
  using unitsface::detail::require;
  require(c.batch > 0, "batch", "must be > 0");
  require(c.dim > 0, "dim", "must be > 0");
  require(c.references == reference_kind::in_batch || c.reference_rows > 0, "reference_rows",
          "must be > 0 for class weights or a memory");
}

template <class T>
std::size_t call_bytes(const loss_traits& l, const call_size& c) {
  require_call(c);
  const bool in_batch = c.references == reference_kind::in_batch;
  working_problem p;
  p.batch = c.batch;
  p.dim = c.dim;
  p.references = in_batch ? c.batch : c.reference_rows;
  p.in_batch = in_batch;
  p.unit_references = c.normalized_references && !in_batch;
  // the CPUs' class weights, but under a bias per class (make_driver's raw_weights)
  p.raw_references = c.references == reference_kind::class_weights && !c.row_segments &&
                     l.bias != bias_kind::per_class;
  p.masked = c.references == reference_kind::memory;
  p.gradients = c.gradients;
  p.tile_elements = c.tile_elements;
  p.row_segments = c.row_segments;
  p.loss = l;
  return working_bytes<T>(p);
}

}  // namespace detail

/// The working memory of the next call of a softmax head (normalised softmax, CosFace, ArcFace).
template <class T, class Margin>
std::size_t required_bytes(const softmax_head<T, Margin>& loss, const call_size& c) {
  return detail::call_bytes<T>(detail::traits_of(loss), c);
}
/// ... of the sample-to-sample softmax.
template <class T>
std::size_t required_bytes(const ss_softmax_loss<T>& loss, const call_size& c) {
  return detail::call_bytes<T>(detail::traits_of(loss), c);
}
/// ... of a binary loss: USS / USS-m, SS-BCE, the BCE and UCE heads.
template <class T>
std::size_t required_bytes(const binary_loss<T>& loss, const call_size& c) {
  return detail::call_bytes<T>(detail::traits_of(loss), c);
}

/// The working memory of one embedded step (embedded_loss::step) with the sample-to-sample
/// part on: `head` sizes the sample-to-class call (its references: the class weights), `s2s`
/// the sample-to-sample one (the memory; normalized_references as the memory keeps its
/// mirror). The two calls run one after the other, so the step needs the larger of them, plus
/// what the step holds across both: B x D for the second part's input gradient and a few
/// scalars.
template <class T, class S2C, class S2S>
std::size_t required_bytes(const embedded_loss<T, S2C, S2S>& loss, const call_size& head,
                           const call_size& s2s) {
  const std::size_t first = required_bytes(loss.sample_to_class(), head);
  std::size_t second = required_bytes(loss.sample_to_sample(), s2s);
  const index_t nbias =
      detail::bias_values(detail::traits_of(loss.sample_to_sample()).bias, s2s.reference_rows);
  if (s2s.gradients) second += std::size_t(s2s.batch * s2s.dim) * sizeof(T);
  return std::max(first, second) + std::size_t(3 + nbias) * sizeof(T);
}

}  // namespace unitsface::losses
