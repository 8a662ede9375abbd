// unitsface: argument checks shared by the losses. Shapes are checked on the host; values
// (labels, NaN/Inf, written memory rows) in one reduce_index over the policy's memory, so
// that they work for device data as well at the cost of one small read-back.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses::detail {

using unitsface::detail::require;
using unitsface::detail::require_finite_scalar;
using unitsface::detail::require_positive;
using unitsface::detail::require_shape;
using unitsface::detail::require_size;

/// How many of p[0, n) are NaN or Inf (float or double, host code): those values alone have
/// every exponent bit set, so a count of integer tests, which g++ vectorises, where isfinite
/// per element into a 64-bit count ran at 8 GB/s: 21 of a CosFace call's 700 ms over 85,742 x
/// 512 float weights (2-core AVX-512 Xeon VM).
template <class T>
UNITSFACE_WIDE_VECTORS inline index_t count_nonfinite_host(const T* p, index_t n) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr U exponent = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  constexpr index_t block = index_t(1) << 30;  // a U count never wraps
  index_t bad = 0;
  for (index_t k0 = 0; k0 < n; k0 += block) {
    const index_t k1 = n - k0 < block ? n : k0 + block;
    U c = 0;
    for (index_t k = k0; k < k1; ++k) c += (std::bit_cast<U>(p[k]) & exponent) == exponent ? 1 : 0;
    bad += static_cast<index_t>(c);
  }
  return bad;
}

template <class T>
struct count_nonfinite_row {
  matrix_view<const T> m;
  UNITSFACE_HD index_t operator()(index_t i) const {
#if !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
    if constexpr (std::is_same_v<std::remove_const_t<T>, float> ||
                  std::is_same_v<std::remove_const_t<T>, double>) {
      if (m.col_stride == 1 && m.cols > 0) return count_nonfinite_host(&m(i, 0), m.cols);
    }
#endif
    using std::isfinite;
    index_t bad = 0;
    for (index_t k = 0; k < m.cols; ++k) bad += isfinite(m(i, k)) ? 0 : 1;
    return bad;
  }
};

struct count_bad_label {
  const index_t* labels;  // contiguous (validate_inputs requires stride 1)
  index_t classes;        // < 0: only non-negativity is checked
  UNITSFACE_HD index_t operator()(index_t i) const {
    const index_t y = labels[i];
    return (y < 0 || (classes >= 0 && y >= classes)) ? 1 : 0;
  }
};

/// Every value check of a loss call, counted in one pass: index i covers anchor i (its label
/// and its row of x) and reference row i (its values and its validity flag).
struct check_counts {
  index_t bad_labels = 0;
  index_t nonfinite_input = 0;
  index_t nonfinite_refs = 0;
  index_t valid_rows = 0;
  check_counts() = default;
  UNITSFACE_HD explicit check_counts(int) {}  // the zero reduce_index starts from
  UNITSFACE_HD check_counts& operator+=(const check_counts& o) {
    bad_labels += o.bad_labels;
    nonfinite_input += o.nonfinite_input;
    nonfinite_refs += o.nonfinite_refs;
    valid_rows += o.valid_rows;
    return *this;
  }
  UNITSFACE_HD friend check_counts operator+(check_counts a, const check_counts& b) {
    return a += b;
  }
};

template <class T>
struct count_problems {
  matrix_view<const T> x;
  const index_t* labels;
  index_t classes;            // < 0: only non-negativity is checked
  matrix_view<const T> refs;  // empty for in-batch pairs
  const unsigned char* valid;
  bool refs_checked = false;  // the reference values are known finite: only count valid rows
  UNITSFACE_HD check_counts operator()(index_t i) const {
    check_counts c;
    if (i < x.rows) {
      c.bad_labels = count_bad_label{labels, classes}(i);
      c.nonfinite_input = count_nonfinite_row<T>{x}(i);
    }
    if (i < refs.rows) {
      if (!refs_checked) c.nonfinite_refs = count_nonfinite_row<T>{refs}(i);
      c.valid_rows = valid == nullptr || valid[i] != 0 ? 1 : 0;
    }
    return c;
  }
};

/// Throws unitsface::invalid_argument for the first problem counted in `c`: labels outside
/// [0, classes) (classes < 0: negative labels only), NaN/Inf in the input and, where the
/// references are named (`refs_name`, null for in-batch pairs), NaN/Inf in the references
/// or no valid reference row.
/// Throws, naming `name`, where `count` of its values are NaN or Inf.
inline void require_no_nonfinite(index_t count, const char* name) {
  require(count == 0, name, "holds " + std::to_string(count) + " NaN or Inf value(s)");
}

inline void require_no_problems(const check_counts& c, index_t classes, const char* refs_name) {
  require(c.bad_labels == 0, "labels",
          std::to_string(c.bad_labels) + " label(s) outside [0, " +
              (classes >= 0 ? std::to_string(classes) : std::string("inf")) + ")");
  require_no_nonfinite(c.nonfinite_input, "input");
  if (refs_name == nullptr) return;
  require_no_nonfinite(c.nonfinite_refs, refs_name);
  require(c.valid_rows > 0, "valid",
          "no memory row has been written: the batch has no valid reference");
}

/// The checks every pairwise loss makes before it touches the data. `shard_of_many`: the
/// references are one rank's shard of a class-sharded set, which may hold no rows (a rank
/// with no classes still takes part in the exchanges). `reference_values` false: the
/// references' NaN/Inf are left to the tile driver, which finds them from the norms of its
/// first normalisation (tile_driver's check_references); their valid flags are still counted.
template <class Policy, class T>
void validate_inputs(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
                     const references<T>& refs, bool check_values, bool shard_of_many = false,
                     bool reference_values = true) {
  require(x.rows > 0, "input", "the batch is empty (B = 0)");
  require(x.cols > 0, "input", "the embedding dimension is 0");
  require(x.data != nullptr, "input", "null data");
  require_size("labels", labels.size(), x.rows);
  require(labels.data != nullptr, "labels", "null data");
  require(labels.stride == 1, "labels", "must be contiguous (stride 1)");
  if (refs.kind == reference_kind::in_batch) {
    require(x.rows > 1, "references", "in-batch pairs need at least two anchors");
  } else {
    const char* name = refs.kind == reference_kind::memory ? "memory" : "weight";
    require(refs.rows.rows > 0 || shard_of_many, name, "has no rows");
    require(refs.rows.data != nullptr || refs.rows.rows == 0, name, "null data");
    require(refs.rows.cols == x.cols, name,
            "has " + std::to_string(refs.rows.cols) + " columns, the input has " +
                std::to_string(x.cols));
    require(refs.row_classes == nullptr || shard_of_many, "references",
            "sampled rows (row_classes) are a shard's: evaluate them through "
            "unitsface::distributed");
    require(refs.shard_classes < 0 || refs.shard_classes >= refs.rows.rows, "references",
            "holds more rows than the classes they were sampled from");
    if (refs.unit_rows.data != nullptr) {
      require(!refs.learnable(), "references",
              "unit_rows (normalised rows kept by their owner) are for the memory, not for "
              "learnable class weights");
      require_shape("references.unit_rows", refs.unit_rows.rows, refs.unit_rows.cols,
                    refs.rows.rows, refs.rows.cols);
    }
    require(refs.label_offset >= 0 && refs.classes() >= refs.label_offset + refs.covered_classes(),
            "references",
            "shard [" + std::to_string(refs.label_offset) + ", " +
                std::to_string(refs.label_offset + refs.covered_classes()) + ") does not fit in " +
                std::to_string(refs.classes()) + " classes");
  }
  if (!check_values) return;
  const bool in_batch = refs.kind == reference_kind::in_batch;
  const index_t classes = in_batch ? -1 : refs.classes();
  const matrix_view<const T> r = in_batch ? matrix_view<const T>() : refs.rows;
  // Rows their owner keeps checked (the feature memory) are not scanned again: only their
  // written flags are counted.
  const check_counts c = backends::reduce_index<check_counts>(
      pol, std::max(x.rows, r.rows),
      count_problems<T>{x, labels.data, classes, r, in_batch ? nullptr : refs.valid,
                        refs.rows_checked || !reference_values});
  require_no_problems(c, classes,
                      in_batch                              ? nullptr
                      : refs.kind == reference_kind::memory ? "memory"
                                                            : "weight");
}

/// Throws, naming `name`, where the references hold NaN or Inf: the reference check of
/// require_no_problems on its own (the tile driver's, once a tile's norms showed one).
template <class Policy, class T>
void require_finite_references(const Policy& pol, matrix_view<const T> refs, const char* name) {
  require_no_nonfinite(
      backends::reduce_index<index_t>(pol, refs.rows, count_nonfinite_row<T>{refs}), name);
}

template <class T>
void validate_gradients(const matrix_view<const T>& x, const references<T>& refs,
                        const gradients<T>& g, index_t bias_size) {
  require_shape("gradients.input", g.input.rows, g.input.cols, x.rows, x.cols);
  require(g.input.data != nullptr, "gradients.input", "null data");
  if (!g.weight.empty()) {
    require(refs.learnable(), "gradients.weight", "only class weights are learnable");
    require_shape("gradients.weight", g.weight.rows, g.weight.cols, refs.rows.rows, refs.rows.cols);
    require(g.weight.data != nullptr, "gradients.weight", "null data");
  }
  if (!g.bias.empty()) {
    require(bias_size > 0, "gradients.bias", "this loss has no bias");
    require_size("gradients.bias", g.bias.size(), bias_size);
    require(g.bias.data != nullptr, "gradients.bias", "null data");
    require(g.bias.stride == 1, "gradients.bias", "must be contiguous (stride 1)");
  }
}

}  // namespace unitsface::losses::detail
