// unitsface: sampled negatives per step (PartialFC's sample rate).
//
// With millions of classes most of a step's cost is the negatives. PartialFC keeps, per step,
// every class that is a label of the (global) batch and a random part of the others, and
// evaluates the loss on those rows only. Here a class is kept when it is a positive of the
// batch, or when a hash of (seed, step, class) falls below `rate`: the decision depends on
// nothing else, so every rank, whatever its shard, keeps the classes one process would keep,
// and a step is reproducible from its seed and number. (PartialFC draws a fixed count per
// rank with torch.randperm, which depends on the split; the count kept here is binomial,
// rate x (negatives) on average — a deliberate difference, for the equality with one process.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/distributed/shard.hpp"
#include "unitsface/losses/detail/validate_shards.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::distributed {

struct sampling_options {
  /// The share of the negative classes kept per step, in (0, 1]; 1 keeps every class.
  /// PartialFC's 2 M-identity setting uses 0.1.
  double rate = 1.0;
  std::uint64_t seed = 0;
};

/// Whether class `c` is kept as a negative at `step` (positives are always kept).
inline bool keeps_negative(const sampling_options& o, std::uint64_t step, index_t c) {
  namespace ld = unitsface::losses::detail;
  const std::uint64_t h = ld::mix64(ld::mix64(o.seed ^ 0x5bd1e9955bd1e995ULL) ^
                                    ld::mix64(step + 0x2545f4914f6cdd1dULL) ^
                                    ld::mix64(std::uint64_t(c) * 0x9e3779b97f4a7c15ULL));
  return double(h >> 11) * 0x1.0p-53 < o.rate;
}

namespace detail {
template <class T>
struct gather_rows {  // dst(k, :) = src(classes[k] - first, :), valid likewise
  matrix_view<const T> src;
  const unsigned char* src_valid;
  const index_t* classes;
  index_t first;
  matrix_view<T> dst;
  unsigned char* dst_valid;
  UNITSFACE_HD void operator()(index_t k) const {
    const index_t r = classes[k] - first;
    for (index_t d = 0; d < src.cols; ++d) dst(k, d) = src(r, d);
    if (src_valid != nullptr) dst_valid[k] = src_valid[r];
  }
};
template <class T>
struct zero_rows {
  matrix_view<T> m;
  UNITSFACE_HD void operator()(index_t i) const {
    for (index_t d = 0; d < m.cols; ++d) m(i, d) = T(0);
  }
};
template <class T>
struct scatter_rows {  // dst(classes[k] - first, :) = src(k, :)
  matrix_view<const T> src;
  const index_t* classes;
  index_t first;
  matrix_view<T> dst;
  UNITSFACE_HD void operator()(index_t k) const {
    const index_t r = classes[k] - first;
    for (index_t d = 0; d < src.cols; ++d) dst(r, d) = src(k, d);
  }
};
}  // namespace detail

/// The classes of a rank's shard kept at one step, and their rows gathered into buffers of
/// the policy: pass references() to the distributed loss calls, with gradient() as
/// gradients::weight for class weights, then scatter_gradient() into the shard's gradient
/// (rows not kept get 0, as PartialFC updates only the sampled rows). A per-class bias reads
/// its bias by row and is not supported (such a loss refuses the references).
template <class T, class Policy>
class sampled_shard {
 public:
  /// `shard`: the rank's references (their rows are classes [label_offset, label_offset +
  /// rows) of classes()); `labels`: the batch's labels (policy memory; the whole batch, as
  /// the loss calls take it).
  sampled_shard(const Policy& pol, const losses::references<T>& shard,
                vector_view<const index_t> labels, const sampling_options& o, std::uint64_t step)
      : pol_(pol), shard_(shard) {
    namespace ud = unitsface::detail;
    ud::require(o.rate > 0.0 && o.rate <= 1.0, "rate",
                "must lie in (0, 1], got " + std::to_string(o.rate));
    ud::require(shard.kind != losses::reference_kind::in_batch, "references",
                "in-batch pairs have no classes to sample");
    ud::require(shard.row_classes == nullptr, "references", "are sampled already");
    ud::require(labels.stride == 1 && (labels.data != nullptr || labels.size() == 0), "labels",
                "must be contiguous");
    std::vector<index_t> y(static_cast<std::size_t>(labels.size()));
    backends::copy_to_host(pol, labels.data, labels.size(), y.data());
    std::sort(y.begin(), y.end());
    const index_t first = shard.label_offset, n = shard.rows.rows;
    for (index_t j = 0; j < n; ++j) {
      const index_t c = first + j;
      if (std::binary_search(y.begin(), y.end(), c) || keeps_negative(o, step, c)) {
        classes_.push_back(c);
      }
    }
    const index_t k = kept();
    const index_t D = shard.rows.cols;
    classes_buf_ = backends::make_buffer<index_t>(pol, k);
    backends::copy_from_host(pol, classes_.data(), k, backends::data_ptr(classes_buf_));
    rows_ = backends::make_buffer<T>(pol, k * D);
    valid_ = backends::make_buffer<unsigned char>(pol, shard.valid != nullptr ? k : 0);
    backends::for_each_index(
        pol, k,
        detail::gather_rows<T>{shard.rows, shard.valid, backends::data_ptr(classes_buf_), first,
                               matrix_view<T>(backends::data_ptr(rows_), k, D),
                               backends::data_ptr(valid_)});
    refs_ = shard.with_rows(matrix_view<const T>(backends::data_ptr(rows_), k, D));
    refs_.valid = shard.valid != nullptr ? backends::data_ptr(valid_) : nullptr;
    refs_.row_classes = backends::data_ptr(classes_buf_);
    refs_.shard_classes = n;
    refs_.num_classes = shard.classes();
  }

  /// The kept rows as references of the loss calls.
  const losses::references<T>& references() const { return refs_; }
  /// The kept classes, ascending (host).
  const std::vector<index_t>& classes() const { return classes_; }
  index_t kept() const { return static_cast<index_t>(classes_.size()); }

  /// A kept x D buffer for d loss / d W of the kept rows (gradients::weight).
  matrix_view<T> gradient() {
    if (!grad_ready_) {
      grad_ = backends::make_buffer<T>(pol_, kept() * shard_.rows.cols);
      grad_ready_ = true;
    }
    return matrix_view<T>(backends::data_ptr(grad_), kept(), shard_.rows.cols);
  }

  /// The shard's d loss / d W (rows x D): the kept rows' gradient, 0 elsewhere.
  void scatter_gradient(matrix_view<T> shard_gradient) {
    unitsface::detail::require_shape("gradient", shard_gradient.rows, shard_gradient.cols,
                                     shard_.rows.rows, shard_.rows.cols);
    backends::for_each_index(pol_, shard_gradient.rows, detail::zero_rows<T>{shard_gradient});
    const matrix_view<T> g = gradient();
    backends::for_each_index(
        pol_, kept(),
        detail::scatter_rows<T>{matrix_view<const T>(g), backends::data_ptr(classes_buf_),
                                shard_.label_offset, shard_gradient});
  }

 private:
  Policy pol_;
  losses::references<T> shard_, refs_;
  std::vector<index_t> classes_;
  decltype(backends::make_buffer<index_t>(std::declval<const Policy&>(), 0)) classes_buf_;
  decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0)) rows_, grad_;
  decltype(backends::make_buffer<unsigned char>(std::declval<const Policy&>(), 0)) valid_;
  bool grad_ready_ = false;
};

}  // namespace unitsface::distributed
