// unitsface: the embedded loss that trains UniTSFace: a sample-to-class head plus a
// sample-to-sample loss over the feature memory, with a warm-up.
#pragma once

#include <string>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/error.hpp"
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
};

namespace detail {
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
  const embedded_options<T>& opts() const { return opt_; }
  bool uses_sample_to_sample(index_t epoch) const { return epoch >= opt_.warmup_epochs; }

  /// One training step: loss and gradients (input, class weights, the s2s bias in the result)
  /// with the memory as it was before the step; then the memory is updated with the batch.
  /// The loss and the bias gradient are read back (gradients::loss and ::bias are not used).
  template <class Policy>
  loss_result<T> step(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
                      matrix_view<const T> weight, const gradients<T>& grads,
                      feature_memory<T, Policy>& memory, index_t epoch) {
    unitsface::detail::require(epoch >= 0, "epoch", "must be >= 0");
    loss_result<T> r = s2c_.forward_backward(pol, x, labels, references<T>::weights(weight),
                                             gradients<T>{grads.input, grads.weight});
    loss_result<T> out;
    out.loss = r.loss;
    if (uses_sample_to_sample(epoch)) {
      auto tmp = backends::make_buffer<T>(pol, x.rows * x.cols);
      matrix_view<T> gtmp(backends::data_ptr(tmp), x.rows, x.cols);
      loss_result<T> q =
          s2s_.forward_backward(pol, x, labels, memory.as_references(), gradients<T>{gtmp, {}});
      backends::for_each_index(
          pol, x.rows, detail::add_scaled<T>{grads.input, matrix_view<const T>(gtmp), opt_.lambda});
      out.loss += opt_.lambda * q.loss;
      out.bias_used = q.bias_used;
      out.grad_bias = q.grad_bias;
      for (T& g : out.grad_bias) g *= opt_.lambda;
    }
    memory.update(x, labels);
    return out;
  }

  /// The loss alone (the memory is updated as in step()).
  template <class Policy>
  T forward(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
            matrix_view<const T> weight, feature_memory<T, Policy>& memory, index_t epoch) {
    unitsface::detail::require(epoch >= 0, "epoch", "must be >= 0");
    T loss = s2c_.forward(pol, x, labels, references<T>::weights(weight));
    if (uses_sample_to_sample(epoch)) {
      loss += opt_.lambda * s2s_.forward(pol, x, labels, memory.as_references());
    }
    memory.update(x, labels);
    return loss;
  }

 private:
  S2C s2c_;
  S2S s2s_;
  embedded_options<T> opt_;
};

}  // namespace unitsface::losses
