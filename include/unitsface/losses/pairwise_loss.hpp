// unitsface: the calls every pairwise loss offers (forward, backward, forward_backward),
// written once on top of the loss's own evaluate().
#pragma once

#include <limits>

#include "unitsface/core/policy.hpp"
#include "unitsface/losses/detail/run.hpp"
#include "unitsface/losses/loss_result.hpp"
#include "unitsface/losses/references.hpp"

namespace unitsface::losses {

/// CRTP base: Derived supplies
///   `template <class Policy> loss_result<T> evaluate(const Policy&, const detail::call<T>&);`
/// and gets the public calls. All views address the policy's memory.
template <class Derived, class T>
class pairwise_loss {
 public:
  /// The loss value. `per_anchor` (B values) receives the per-anchor losses when given; with
  /// reduction::none it is required (the result is then their sum).
  template <class Policy = host_policy>
  T forward(const Policy& pol, matrix_view<const T> x, vector_view<const index_t> labels,
            const references<T>& refs, vector_view<T> per_anchor = {}) {
    return self().evaluate(pol, detail::call<T>{x, labels, refs, nullptr, per_anchor, {}}).loss;
  }

  /// Loss and gradients in one walk over the references: d loss / d x into grads.input,
  /// d loss / d W into grads.weight (class weights; empty: not computed), d loss / d bias in
  /// the result. `upstream`, when given, multiplies the gradients: d outer / d loss (1 value)
  /// for mean and sum, d outer / d loss_i (B values) for reduction::none. With
  /// reduction::none `per_anchor` (required) receives the B losses; the result's loss is
  /// their sum.
  template <class Policy = host_policy>
  loss_result<T> forward_backward(const Policy& pol, matrix_view<const T> x,
                                  vector_view<const index_t> labels, const references<T>& refs,
                                  const gradients<T>& grads, vector_view<const T> upstream = {},
                                  vector_view<T> per_anchor = {}) {
    return self().evaluate(pol, detail::call<T>{x, labels, refs, &grads, per_anchor, upstream});
  }

  /// The gradients alone: grads as forward_backward writes them, `grad_bias` and `bias_used`
  /// in the result, and no loss (result.loss is NaN; gradients::loss, when given, still
  /// receives it). With reduction::none it needs no per-anchor output.
  template <class Policy = host_policy>
  loss_result<T> backward(const Policy& pol, matrix_view<const T> x,
                          vector_view<const index_t> labels, const references<T>& refs,
                          const gradients<T>& grads, vector_view<const T> upstream = {}) {
    detail::call<T> c{x, labels, refs, &grads, {}, upstream};
    c.gradients_only = true;
    loss_result<T> r = self().evaluate(pol, c);
    r.loss = std::numeric_limits<T>::quiet_NaN();
    return r;
  }

  /// The evaluation behind the calls above, with every field of the call given (results
  /// left in the policy's memory, value checks already made): for losses built from other
  /// losses, such as embedded_loss.
  template <class Policy>
  loss_result<T> evaluate_call(const Policy& pol, const detail::call<T>& c) {
    return self().evaluate(pol, c);
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace unitsface::losses
