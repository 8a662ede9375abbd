// unitsface: the embedded loss that trains UniTSFace: a sample-to-class head plus a
// sample-to-sample loss over the feature memory, with a warm-up.
#pragma once

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/losses/detail/run.hpp"
#include "unitsface/losses/detail/validate.hpp"
#include "unitsface/losses/feature_memory.hpp"
#include "unitsface/losses/loss_result.hpp"
#include "unitsface/losses/references.hpp"
#include "unitsface/losses/softmax_head.hpp"
#include "unitsface/losses/uss.hpp"

namespace unitsface::losses {

template <class T>
struct embedded_options {
  T lambda = T(1);            ///< weight of the sample-to-sample part (official: 1)
  index_t warmup_epochs = 1;  ///< epochs during which only the sample-to-class part runs
                              ///< (official: the first epoch, while the memory fills up)
  /// Check the values once per step — labels against the class weights and the memory,
  /// NaN/Inf in the input, the weights and the memory, a written memory row — in one
  /// reduction (one read-back). The parts' own `validate` options are not consulted by
  /// step() and forward(); shapes are always checked. With false nothing is read back, and
  /// the labels must lie within both the weights and the memory: the memory is written at
  /// them.
  bool validate = true;
};

/// What an embedded step returns: the loss L = L_s2c + lambda L_s2s, its two parts, and the
/// bias used and its gradient (loss_result). When gradients::loss keeps L in the policy's
/// memory nothing of the loss is read back: loss, s2c_loss and s2s_loss are NaN.
template <class T>
struct embedded_result : loss_result<T> {
  T s2c_loss = std::numeric_limits<T>::quiet_NaN();  ///< L_s2c
  T s2s_loss = std::numeric_limits<T>::quiet_NaN();  ///< lambda L_s2s (0 during the warm-up)
};

namespace detail {
/// The value checks of a step: the head's (labels against the class weights, the input,
/// the weights) and the memory's (labels against its identities, its rows, its validity).
struct step_counts {
  check_counts head, memory;
  step_counts() = default;
  UNITSFACE_HD explicit step_counts(int) {}  // the zero reduce_index starts from
  UNITSFACE_HD step_counts& operator+=(const step_counts& o) {
    head += o.head;
    memory += o.memory;
    return *this;
  }
  UNITSFACE_HD friend step_counts operator+(step_counts a, const step_counts& b) { return a += b; }
};
template <class T>
struct count_step_problems {
  count_problems<T> head, memory;
  UNITSFACE_HD step_counts operator()(index_t i) const {
    step_counts c;
    c.head = head(i);
    c.memory = memory(i);
    return c;
  }
};

/// The step's results from the parts' (scratch = [head loss, s2s loss, total, s2s d/db ...]):
/// index 0 writes loss = head + lambda s2s, index j > 0 the bias gradient lambda d/db_j.
template <class T>
struct combine_step {
  const T* scratch;
  T lambda;
  T* loss;
  T* grad_bias;
  UNITSFACE_HD void operator()(index_t j) const {
    if (j == 0) {
      loss[0] = scratch[0] + lambda * scratch[1];
    } else {
      grad_bias[j - 1] = lambda * scratch[2 + j];
    }
  }
};

/// Where a step's references are shards (unitsface::distributed): the ranks, and the classes
/// of this rank's class weights. comm null: one process holds everything.
struct step_shards {
  collective* comm = nullptr;
  class_range weight_classes;
};

template <class T>
struct add_scaled {  // dst(i, :) += a * src(i, :)
  matrix_view<T> dst;
  matrix_view<const T> src;
  T a;
  UNITSFACE_HD void operator()(index_t i) const {
    for (index_t k = 0; k < dst.cols; ++k) dst(i, k) += a * src(i, k);
  }
};
}  // namespace detail

/// L = L_s2c(x, W) + lambda L_s2s(x, memory), the second term from epoch `warmup_epochs` on.
/// The memory is written after the loss of every step, warm-up included (official schedule).
/// Defaults: CosFace (m = 0.4) + USS-m (m = 0.1), lambda = 1, one warm-up epoch.
template <class T, class S2C = cosface_loss<T>, class S2S = uss_loss<T>>
class embedded_loss {
 public:
  embedded_loss(S2C s2c = S2C(cosface_options<T>()), S2S s2s = S2S(),
                const embedded_options<T>& o = {})
      : s2c_(std::move(s2c)), s2s_(std::move(s2s)), opt_(o) {
    unitsface::detail::require_finite_scalar("lambda", opt_.lambda);
    unitsface::detail::require(opt_.lambda >= T(0), "lambda", "must be >= 0");
    unitsface::detail::require(opt_.warmup_epochs >= 0, "warmup_epochs", "must be >= 0");
  }

  S2C& sample_to_class() { return s2c_; }
  S2S& sample_to_sample() { return s2s_; }
  const S2C& sample_to_class() const { return s2c_; }
  const S2S& sample_to_sample() const { return s2s_; }
  const embedded_options<T>& opts() const { return opt_; }
  bool uses_sample_to_sample(index_t epoch) const { return epoch >= opt_.warmup_epochs; }

  /// One training step: loss and gradients (input, class weights, the s2s bias) with the
  /// memory as it was before the step; then the memory is updated with the batch.
  /// gradients::loss and gradients::bias (the s2s bias: 1 value, or one per identity) keep
  /// the loss and lambda d L_s2s / d b in the policy's memory; what they do not keep is read
  /// back in one copy into the result. With both kept and validation off a step reads
  /// nothing back (but for the s2s bias initialisation, once). During the warm-up the bias
  /// gradient is zero (kept) or empty (in the result).
  template <class Policy>
  embedded_result<T> step(const Policy& pol, matrix_view<const T> x,
                          vector_view<const index_t> labels, matrix_view<const T> weight,
                          const gradients<T>& grads, feature_memory<T, Policy>& memory,
                          index_t epoch) {
    return run_step(pol, x, labels, weight, &grads, memory, epoch, {});
  }

  /// step() (grads given) or forward() (grads null) over class shards, for
  /// unitsface::distributed: `weight` holds the classes `weight_classes`, `memory` is a shard,
  /// and `comm` reaches the ranks holding the other shards. Every rank passes the whole batch.
  template <class Policy>
  embedded_result<T> evaluate_sharded(collective& comm, const Policy& pol, matrix_view<const T> x,
                                      vector_view<const index_t> labels,
                                      matrix_view<const T> weight,
                                      const class_range& weight_classes, const gradients<T>* grads,
                                      feature_memory<T, Policy>& memory, index_t epoch) {
    return run_step(pol, x, labels, weight, grads, memory, epoch,
                    detail::step_shards{&comm, weight_classes});
  }

  /// The loss alone, read back once (the memory is updated as in step()).
  template <class Policy>
  T forward(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
            matrix_view<const T> weight, feature_memory<T, Policy>& memory, index_t epoch) {
    return run_step(pol, x, labels, weight, nullptr, memory, epoch, {}).loss;
  }

 private:
  S2C s2c_;
  S2S s2s_;
  embedded_options<T> opt_;

  index_t s2s_bias_size() const {
    if constexpr (requires { s2s_.biases(); }) {
      return static_cast<index_t>(s2s_.biases().size());
    } else {
      return 0;
    }
  }

  template <class Policy>
  void check_values(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
                    matrix_view<const T> weight, const feature_memory<T, Policy>& memory, bool s2s,
                    bool weight_values) const {
    const references<T> mem = memory.as_references();
    // The memory part sees the input with no columns: its labels are checked against the
    // memory's identities, its values once, by the head part.
    const matrix_view<const T> labels_only(x.data, x.rows, 0);
    const detail::step_counts c = backends::reduce_index<detail::step_counts>(
        pol, std::max({x.rows, weight.rows, mem.rows.rows}),
        detail::count_step_problems<T>{
            {x, labels.data, weight.rows, weight, nullptr, !weight_values},
            {labels_only, labels.data, memory.total_identities(), mem.rows, mem.valid,
             mem.rows_checked}});
    detail::require_no_problems(c.head, weight.rows, "weight");
    // The memory is written at these labels, whether the s2s part runs or not.
    detail::require(c.memory.bad_labels == 0, "labels",
                    std::to_string(c.memory.bad_labels) + " label(s) outside [0, " +
                        std::to_string(memory.total_identities()) + "), the memory's identities");
    if (s2s) detail::require_no_problems(c.memory, memory.total_identities(), "memory");
  }

  template <class Policy>
  embedded_result<T> run_step(const Policy& pol, matrix_view<const T> x,
                              vector_view<const index_t> labels, matrix_view<const T> weight,
                              const gradients<T>* grads, feature_memory<T, Policy>& memory,
                              index_t epoch, const detail::step_shards& sh) {
    namespace ud = unitsface::detail;
    const bool s2s = uses_sample_to_sample(epoch);
    const index_t nbias = s2s_bias_size();
    const bool keep_loss = grads != nullptr && grads->loss != nullptr;
    const bool keep_bias = grads != nullptr && !grads->bias.empty();
    const auto local_checks = [&] {
      ud::require(epoch >= 0, "epoch", "must be >= 0");
      ud::require(x.rows > 0, "input", "the batch is empty (B = 0)");
      ud::require(memory.dim() == x.cols, "memory",
                  "has dimension " + std::to_string(memory.dim()) + ", the input " +
                      std::to_string(x.cols));
      if (keep_bias) {
        ud::require(nbias > 0, "gradients.bias", "the sample-to-sample loss has no bias");
        ud::require_size("gradients.bias", grads->bias.size(), nbias);
        ud::require(grads->bias.stride == 1, "gradients.bias", "must be contiguous (stride 1)");
      }
    };
    references<T> head_refs = references<T>::weights(weight);
    if (sh.comm != nullptr) {
      // Over shards the parts check their calls collectively (validate_shards.hpp); the
      // step's own checks are made collectively too, so that no rank throws alone.
      head_refs = head_refs.shard(sh.weight_classes);
      detail::agree_or_throw(*sh.comm, [&] {
        local_checks();
        ud::require(weight.rows == sh.weight_classes.count, "weight",
                    "has " + std::to_string(weight.rows) + " rows for its shard of " +
                        std::to_string(sh.weight_classes.count) + " classes");
      });
    } else {
      local_checks();
      // The head's shape checks (input, labels, weights) before the value checks read anything.
      detail::validate_inputs(pol, x, labels, head_refs, false);
    }

    // [head loss, s2s loss, total, s2s d/db ...], zeroed: the s2s entries stay 0 in the
    // warm-up.
    auto scratch = backends::make_buffer<T>(pol, 3 + nbias);
    T* sc = backends::data_ptr(scratch);
    detail::call<T> head{x, labels, head_refs, nullptr, {}, {}};
    head.values_checked = sh.comm == nullptr || !opt_.validate;
    head.comm = sh.comm;
    // The weights' NaN/Inf found by the head's driver where it can (driver_checks_references),
    // the rest here.
    head.check_reference_values = opt_.validate && detail::driver_checks_references<Policy>(head);
    if (sh.comm == nullptr && opt_.validate) {
      check_values(pol, x, labels, weight, memory, s2s, !head.check_reference_values);
    }
    head.loss_out = sc;
    gradients<T> head_grads;
    if (grads != nullptr) {
      head_grads = gradients<T>(grads->input, grads->weight, sc);
      head.grads = &head_grads;
    }
    s2c_.evaluate_call(pol, head);

    embedded_result<T> out;
    if (s2s) {
      auto tmp = backends::make_buffer<T>(pol, grads != nullptr ? x.rows * x.cols : 0);
      const matrix_view<T> gtmp(backends::data_ptr(tmp), x.rows, x.cols);
      detail::call<T> part{x, labels, memory.as_references(), nullptr, {}, {}};
      part.values_checked = sh.comm == nullptr || !opt_.validate;
      part.comm = sh.comm;
      part.loss_out = sc + 1;
      gradients<T> part_grads;
      if (grads != nullptr) {
        part_grads = gradients<T>(gtmp, {}, sc + 1,
                                  nbias > 0 ? vector_view<T>(sc + 3, nbias) : vector_view<T>{});
        part.grads = &part_grads;
      }
      out.bias_used = s2s_.evaluate_call(pol, part).bias_used;
      if (grads != nullptr) {
        backends::for_each_index(
            pol, x.rows,
            detail::add_scaled<T>{grads->input, matrix_view<const T>(gtmp), opt_.lambda});
      }
    }
    // Combine on the policy, into the scratch for what goes back to the host.
    const bool want_bias = grads != nullptr && nbias > 0;
    T* loss_dst = keep_loss ? grads->loss : sc + 2;
    T* bias_dst = keep_bias ? grads->bias.data : sc + 3;
    backends::for_each_index(pol, want_bias ? 1 + nbias : 1,
                             detail::combine_step<T>{sc, opt_.lambda, loss_dst, bias_dst});
    // One read-back for whatever the caller does not keep: the loss with its two parts, and
    // the bias gradient.
    const bool host_bias = want_bias && !keep_bias && s2s;
    out.loss = std::numeric_limits<T>::quiet_NaN();  // stays in the policy's memory
    if (!keep_loss || host_bias) {
      std::vector<T> h(static_cast<std::size_t>(3 + nbias));
      const index_t first = keep_loss ? 3 : 0;
      const index_t last = host_bias ? 3 + nbias : 3;
      backends::copy_to_host(pol, sc + first, last - first, h.data() + first);
      if (!keep_loss) {
        out.s2c_loss = h[0];
        out.s2s_loss = opt_.lambda * h[1];  // as the total adds it
        out.loss = h[2];
      }
      if (host_bias) out.grad_bias.assign(h.begin() + 3, h.end());
    }
    if (sh.comm != nullptr && opt_.validate) {
      // The memory is written at the labels, which the head checked against its classes:
      // they must be the memory's identities too (the same labels on every rank, so the same
      // decision).
      memory.update(x, labels, /*check_values=*/true);
    } else {
      memory.update(x, labels, /*check_values=*/false);  // checked above, or not at all
    }
    return out;
  }
};

}  // namespace unitsface::losses
