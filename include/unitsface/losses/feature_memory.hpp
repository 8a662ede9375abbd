// unitsface: the per-identity feature memory of the sample-to-sample losses.
#pragma once

#include <cmath>
#include <span>
#include <string>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/policy.hpp"
#include "unitsface/losses/detail/normalize_eps.hpp"
#include "unitsface/losses/detail/validate.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses {

template <class T>
struct memory_options {
  /// 0 (official): a written row is replaced by the new feature. mu in (0, 1): a row that
  /// was already written moves to mu * row + (1 - mu) * x (an exponential moving average);
  /// an unwritten row still takes x as it is.
  T momentum = T(0);
  /// true (default): rows never written are neither positives nor negatives. false: the
  /// official code's behaviour, where an unwritten (zero) row takes part with cosine 0.
  bool mask_unwritten = true;
  /// true (default, the library's choice): the memory also keeps its rows normalised, each
  /// row normalised when it is written, so that a loss call does not normalise all C rows
  /// again (C x D more memory; the results are the same bits). false: each call normalises.
  bool keep_normalized = true;
};

namespace detail {
/// Row y_i <- x_i for the last i with that label (last write wins, as sequential writes in
/// batch order would leave it); one functor call per anchor, so it runs on any system.
template <class T>
struct memory_write {
  matrix_view<const T> x;
  const index_t* labels;
  index_t batch;
  matrix_view<T> rows;  // identities [first, first + rows.rows)
  unsigned char* valid;
  T momentum;
  index_t first = 0;
  matrix_view<T> unit = {};  // the normalised mirror (identities x dim), or empty
  UNITSFACE_HD void operator()(index_t i) const {
    const index_t label = labels[i];
    const index_t y = label - first;
    if (y < 0 || y >= rows.rows) return;  // another shard's identity
    for (index_t k = i + 1; k < batch; ++k) {
      if (labels[k] == label) return;  // a later anchor of the same identity wins
    }
    const bool blend = momentum > T(0) && valid[y] != 0;
    for (index_t d = 0; d < x.cols; ++d) {
      rows(y, d) = blend ? momentum * rows(y, d) + (T(1) - momentum) * x(i, d) : x(i, d);
    }
    valid[y] = 1;
    if (unit.data != nullptr) {
      // the loss calls' own normalisation of a row (backends::normalize_rows), for this row
      backends::generic::detail::normalize_row<T>{matrix_view<const T>(rows), unit, nullptr,
                                                  normalize_eps<T>}(y);
    }
  }
};
}  // namespace detail

/// One raw (unnormalised) feature per identity, zero and unwritten at the start. The losses
/// of a batch read the memory as it was before the batch; update() writes it afterwards.
/// The storage lives in the policy's memory (device memory for a device policy).
///
/// A shard of the memory (one rank of a class-sharded loss) holds the rows of identities
/// [first, first + count) of `total`, possibly none: update() takes the whole batch and
/// writes the rows of its own identities only.
template <class T, class Policy = host_policy>
class feature_memory {
 public:
  feature_memory(index_t identities, index_t dim, const memory_options<T>& o = {},
                 const Policy& pol = Policy{})
      : feature_memory(whole(identities), dim, o, pol) {}

  /// The shard `shard` of a memory of shard.total identities.
  feature_memory(const class_range& shard, index_t dim, const memory_options<T>& o = {},
                 const Policy& pol = Policy{})
      : pol_(pol), opt_(o), C_(shard.count), first_(shard.first), total_(shard.total), D_(dim) {
    unitsface::detail::require(
        shard.count >= 0 && shard.first >= 0 && shard.total > 0 &&
            shard.first + shard.count <= shard.total,
        "identities",
        "shard [" + std::to_string(shard.first) + ", " + std::to_string(shard.first + shard.count) +
            ") does not fit in " + std::to_string(shard.total) + " identities");
    unitsface::detail::require(dim > 0, "dim", "must be > 0");
    unitsface::detail::require_finite_scalar("momentum", o.momentum);
    unitsface::detail::require(o.momentum >= T(0) && o.momentum < T(1), "momentum",
                               "must lie in [0, 1), got " + std::to_string(o.momentum));
    rows_ = backends::make_buffer<T>(pol_, C_ * D_);
    valid_ = backends::make_buffer<unsigned char>(pol_, C_);
    // zero rows normalise to zero rows: the mirror of the empty memory is zero too
    if (o.keep_normalized) unit_ = backends::make_buffer<T>(pol_, C_ * D_);
  }

  /// The identities whose rows this memory holds (all of them, or its shard's).
  index_t identities() const { return C_; }
  /// The first identity held (0 unless a shard) and the number of identities of the whole.
  index_t first_identity() const { return first_; }
  index_t total_identities() const { return total_; }
  class_range shard() const { return class_range{first_, C_, total_}; }
  index_t dim() const { return D_; }
  const memory_options<T>& opts() const { return opt_; }

  matrix_view<const T> rows() const {
    return matrix_view<const T>(backends::data_ptr(rows_), C_, D_);
  }
  const unsigned char* valid() const { return backends::data_ptr(valid_); }
  /// The rows normalised (keep_normalized), or an empty view.
  matrix_view<const T> normalized_rows() const {
    if (!opt_.keep_normalized) return {};
    return matrix_view<const T>(backends::data_ptr(unit_), C_, D_);
  }

  /// The memory as the references of a sample-to-sample loss: its rows, known finite (checked
  /// when written), with their normalised mirror where it keeps one.
  references<T> as_references() const {
    references<T> r = references<T>::memory(rows(), opt_.mask_unwritten ? valid() : nullptr)
                          .shard(first_, total_);
    r.unit_rows = normalized_rows();
    r.rows_checked = true;
    return r;
  }

  /// Writes the batch (x: B x D, labels in [0, total_identities())), last occurrence winning;
  /// a shard writes the rows of its own identities.
  /// Shapes are always checked; with `check_values` also the labels and NaN/Inf, in one
  /// reduction (one read-back). A label outside [0, identities) would write outside the
  /// memory: pass false only for values already checked (embedded_loss does).
  void update(matrix_view<const T> x, vector_view<const index_t> labels, bool check_values = true) {
    unitsface::detail::require(x.rows > 0, "input", "the batch is empty (B = 0)");
    unitsface::detail::require_shape("input", x.rows, x.cols, x.rows, D_);
    unitsface::detail::require(x.data != nullptr, "input", "null data");
    unitsface::detail::require_size("labels", labels.size(), x.rows);
    unitsface::detail::require(labels.data != nullptr, "labels", "null data");
    unitsface::detail::require(labels.stride == 1, "labels", "must be contiguous (stride 1)");
    if (check_values) {
      const detail::check_counts c = backends::reduce_index<detail::check_counts>(
          pol_, x.rows, detail::count_problems<T>{x, labels.data, total_, {}, nullptr});
      detail::require_no_problems(c, total_, nullptr);
    }
    backends::for_each_index(
        pol_, x.rows,
        detail::memory_write<T>{
            x, labels.data, x.rows, matrix_view<T>(backends::data_ptr(rows_), C_, D_),
            backends::data_ptr(valid_), opt_.momentum, first_,
            opt_.keep_normalized ? matrix_view<T>(backends::data_ptr(unit_), C_, D_)
                                 : matrix_view<T>()});
  }

  /// Checkpoint: copies the memory into the caller's host memory: `rows_out` the rows
  /// (identities x dim, row-major), `valid_out` one flag per identity (1: written).
  void save(std::span<T> rows_out, std::span<unsigned char> valid_out) const {
    unitsface::detail::require_size("rows", index_t(rows_out.size()), C_ * D_);
    unitsface::detail::require_size("valid", index_t(valid_out.size()), C_);
    backends::copy_to_host(pol_, backends::data_ptr(rows_), C_ * D_, rows_out.data());
    backends::copy_to_host(pol_, backends::data_ptr(valid_), C_, valid_out.data());
  }

  /// Resume: replaces the memory with what save() wrote (same layout, host memory). Checked
  /// before anything is copied, so a refused load leaves the memory as it was: the sizes,
  /// every flag 0 or 1, a written row finite, an unwritten row zero (as the memory keeps it:
  /// with mask_unwritten = false an unwritten row takes part in the losses as it is).
  void load(std::span<const T> rows_in, std::span<const unsigned char> valid_in) {
    unitsface::detail::require_size("rows", index_t(rows_in.size()), C_ * D_);
    unitsface::detail::require_size("valid", index_t(valid_in.size()), C_);
    for (index_t c = 0; c < C_; ++c) {
      const unsigned char v = valid_in[std::size_t(c)];
      unitsface::detail::require(v == 0 || v == 1, "valid",
                                 "flag of identity " + std::to_string(c) + " is " +
                                     std::to_string(int(v)) + ", not 0 or 1");
      for (index_t d = 0; d < D_; ++d) {
        const T x = rows_in[std::size_t(c * D_ + d)];
        if (v == 1) {
          unitsface::detail::require(std::isfinite(x), "rows",
                                     "row " + std::to_string(c) + " holds NaN or Inf");
        } else {
          unitsface::detail::require(
              x == T(0), "rows",
              "row " + std::to_string(c) + " is not written (valid 0) but is not zero");
        }
      }
    }
    backends::copy_from_host(pol_, rows_in.data(), C_ * D_, backends::data_ptr(rows_));
    backends::copy_from_host(pol_, valid_in.data(), C_, backends::data_ptr(valid_));
    if (opt_.keep_normalized) {
      backends::normalize_rows(pol_, rows(), matrix_view<T>(backends::data_ptr(unit_), C_, D_),
                               static_cast<T*>(nullptr), detail::normalize_eps<T>);
    }
  }

 private:
  static class_range whole(index_t identities) {
    unitsface::detail::require(identities > 0, "identities", "must be > 0");
    return class_range{0, identities, identities};
  }

  Policy pol_;
  memory_options<T> opt_;
  index_t C_, first_, total_, D_;
  decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0)) rows_, unit_;
  decltype(backends::make_buffer<unsigned char>(std::declval<const Policy&>(), 0)) valid_;
};

}  // namespace unitsface::losses
