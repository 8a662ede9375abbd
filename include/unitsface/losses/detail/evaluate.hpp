// unitsface: runs a kernel's passes through the tile driver and reduces the result.
#pragma once

#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/reduction.hpp"
#include "unitsface/losses/detail/driver.hpp"

namespace unitsface::losses::detail {

template <class T>
struct eval_request {
  reduction red = reduction::mean;
  bool grad = false;
  matrix_view<T> grad_x;        ///< B x D (policy memory), written when grad
  matrix_view<T> grad_refs;     ///< N x D for learnable references (policy memory), or empty
  const T* upstream = nullptr;  ///< reduction none: d outer / d loss_i (policy memory), or null = 1
  T* per_anchor = nullptr;      ///< B per-anchor losses (policy memory), or null
};

template <class T>
struct eval_result {
  T loss = T(0);               ///< reduced loss (the sum of per-anchor losses for none)
  std::vector<T> column_sums;  ///< host copy of sum_i d loss / d cos_ij, bias kernels only
};

template <class Policy, class T, class K>
eval_result<T> evaluate(tile_driver<Policy, T>& drv, const Policy& pol, const K& kernel,
                        const eval_request<T>& req) {
  const index_t B = drv.batch();
  auto stats = drv.make_stats();
  auto* st = backends::data_ptr(stats);
  for (int pass = 1; pass <= K::stat_passes; ++pass) {
    drv.statistics_pass(kernel, pass, st);
    drv.finish_pass(kernel, pass, st);
  }
  auto own_loss = backends::make_buffer<T>(pol, req.per_anchor != nullptr ? 0 : B);
  T* row_loss = req.per_anchor != nullptr ? req.per_anchor : backends::data_ptr(own_loss);
  const T scale_all = req.red == reduction::mean ? T(1) / T(B) : T(1);
  const T* row_scale = req.red == reduction::none ? req.upstream : nullptr;
  if (req.grad) drv.set_reference_gradient(req.grad_refs);
  drv.element_pass(kernel, st, row_loss, req.grad, row_scale, scale_all);

  eval_result<T> out;
  out.loss = drv.sum(row_loss, B);
  if (req.red == reduction::mean) out.loss /= T(B);
  if (req.grad) {
    drv.finish(req.grad_x);
    if constexpr (K::has_bias) {
      out.column_sums.resize(static_cast<std::size_t>(drv.references()));
      backends::copy_to_host(pol, drv.column_gradient_sums(), drv.references(),
                             out.column_sums.data());
    }
  }
  return out;
}

/// Per-anchor statistics only (for the data-dependent bias initialisation): runs the
/// kernel's statistics passes and returns the per-row cache0 values, read back to the host.
template <class Policy, class T, class K>
std::vector<row_stats<T>> statistics(tile_driver<Policy, T>& drv, const Policy& pol,
                                     const K& kernel) {
  auto stats = drv.make_stats();
  auto* st = backends::data_ptr(stats);
  for (int pass = 1; pass <= K::stat_passes; ++pass) {
    drv.statistics_pass(kernel, pass, st);
    drv.finish_pass(kernel, pass, st);
  }
  std::vector<row_stats<T>> host(static_cast<std::size_t>(drv.batch()));
  backends::copy_to_host(pol, st, drv.batch(), host.data());
  return host;
}

}  // namespace unitsface::losses::detail
