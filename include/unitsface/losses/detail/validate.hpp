// unitsface: argument checks shared by the losses. They run on the policy's memory through
// reduce_index, so they work for device data as well (one small read-back each).
#pragma once

#include <cmath>
#include <string>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses::detail {

using unitsface::detail::require;
using unitsface::detail::require_finite_scalar;
using unitsface::detail::require_positive;
using unitsface::detail::require_shape;
using unitsface::detail::require_size;

template <class T>
struct count_nonfinite_row {
  matrix_view<const T> m;
  UNITSFACE_HD index_t operator()(index_t i) const {
    using std::isfinite;
    index_t bad = 0;
    for (index_t k = 0; k < m.cols; ++k) bad += isfinite(m(i, k)) ? 0 : 1;
    return bad;
  }
};

struct count_bad_label {
  const index_t* labels;
  index_t stride;
  index_t classes;  // < 0: only non-negativity is checked
  UNITSFACE_HD index_t operator()(index_t i) const {
    const index_t y = labels[i * stride];
    return (y < 0 || (classes >= 0 && y >= classes)) ? 1 : 0;
  }
};

struct count_valid {
  const unsigned char* valid;
  UNITSFACE_HD index_t operator()(index_t i) const { return valid[i] != 0 ? 1 : 0; }
};

template <class Policy, class T>
void require_finite(const Policy& pol, const char* arg, matrix_view<const T> m) {
  const index_t bad = backends::reduce_index<index_t>(pol, m.rows, count_nonfinite_row<T>{m});
  require(bad == 0, arg, "holds " + std::to_string(bad) + " NaN or Inf value(s)");
}

/// The checks every pairwise loss makes before it touches the data.
template <class Policy, class T>
void validate_inputs(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
                     const references<T>& refs, bool check_values) {
  require(x.rows > 0, "input", "the batch is empty (B = 0)");
  require(x.cols > 0, "input", "the embedding dimension is 0");
  require(x.data != nullptr, "input", "null data");
  require_size("labels", labels.size(), x.rows);
  require(labels.stride == 1, "labels", "must be contiguous (stride 1)");
  if (refs.kind == reference_kind::in_batch) {
    require(x.rows > 1, "references", "in-batch pairs need at least two anchors");
  } else {
    const char* name = refs.kind == reference_kind::memory ? "memory" : "weight";
    require(refs.rows.rows > 0, name, "has no rows");
    require(refs.rows.data != nullptr, name, "null data");
    require(refs.rows.cols == x.cols, name,
            "has " + std::to_string(refs.rows.cols) + " columns, the input has " +
                std::to_string(x.cols));
    require(refs.label_offset >= 0 && refs.classes() >= refs.label_offset + refs.rows.rows,
            "references",
            "shard [" + std::to_string(refs.label_offset) + ", " +
                std::to_string(refs.label_offset + refs.rows.rows) + ") does not fit in " +
                std::to_string(refs.classes()) + " classes");
  }
  if (!check_values) return;
  const index_t classes = refs.kind == reference_kind::in_batch ? -1 : refs.classes();
  const index_t bad =
      backends::reduce_index<index_t>(pol, x.rows, count_bad_label{labels.data, 1, classes});
  require(bad == 0, "labels",
          std::to_string(bad) + " label(s) outside [0, " +
              (classes >= 0 ? std::to_string(classes) : std::string("inf")) + ")");
  require_finite(pol, "input", x);
  if (refs.kind != reference_kind::in_batch) {
    require_finite(pol, refs.kind == reference_kind::memory ? "memory" : "weight", refs.rows);
    if (refs.valid != nullptr) {
      const index_t nv =
          backends::reduce_index<index_t>(pol, refs.rows.rows, count_valid{refs.valid});
      require(nv > 0, "valid", "no memory row has been written: the batch has no valid reference");
    }
  }
}

template <class T>
void validate_gradients(const matrix_view<const T>& x, const references<T>& refs,
                        const gradients<T>& g) {
  require_shape("gradients.input", g.input.rows, g.input.cols, x.rows, x.cols);
  require(g.input.data != nullptr, "gradients.input", "null data");
  if (!g.weight.empty()) {
    require(refs.learnable(), "gradients.weight", "only class weights are learnable");
    require_shape("gradients.weight", g.weight.rows, g.weight.cols, refs.rows.rows, refs.rows.cols);
  }
}

}  // namespace unitsface::losses::detail
