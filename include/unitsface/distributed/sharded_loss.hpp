// unitsface: the loss calls over class shards.
//
// Every rank holds the whole batch (x: B x D and its labels, the same on every rank: the
// global batch of docs/distributed.md) and one shard of the references: rows [first, first +
// count) of the class weights (references::weights(w).shard(s)) or of the feature memory
// (feature_memory built on a class_shard). The calls mirror the loss's own forward,
// forward_backward and backward, with the communicator first; their results are those of
// one process holding every class:
// - the loss (every rank), and the per-anchor losses;
// - d loss / d x, the whole B x D gradient, the same on every rank;
// - d loss / d W for the rank's own rows (gradients::weight: count x D);
// - a scalar bias's gradient (every rank), or, for a per-class bias, the entries of the
//   rank's own classes (the others are 0; the loss keeps all C biases, each rank's
//   optimiser updates its own).
// Checks are made collectively: a bad argument on one rank is an error on every rank.
#pragma once

#include <limits>

#include "unitsface/core/collective.hpp"
#include "unitsface/distributed/communicator.hpp"
#include "unitsface/distributed/shard.hpp"
#include "unitsface/losses/embedded.hpp"
#include "unitsface/losses/pairwise_loss.hpp"

namespace unitsface::distributed {

/// The loss over the rank's shard `refs`; see the loss's forward().
template <communicator C, class Loss, class Policy, class T>
requires communicator_for<C, Policy> T forward(C& comm, const Policy& pol, Loss& loss,
                                               matrix_view<const T> x,
                                               vector_view<const index_t> labels,
                                               const losses::references<T>& refs,
                                               vector_view<T> per_anchor = {}) {
  detail::collective_adapter<C> coll(comm);
  losses::detail::call<T> c{x, labels, refs, nullptr, per_anchor, {}};
  c.comm = &coll;
  return loss.evaluate_call(pol, c).loss;
}

/// Loss and gradients over the rank's shard; see the loss's forward_backward().
template <communicator C, class Loss, class Policy, class T>
requires communicator_for<C, Policy> losses::loss_result<T> forward_backward(
    C& comm, const Policy& pol, Loss& loss, matrix_view<const T> x,
    vector_view<const index_t> labels, const losses::references<T>& refs,
    const losses::gradients<T>& grads, vector_view<const T> upstream = {},
    vector_view<T> per_anchor = {}) {
  detail::collective_adapter<C> coll(comm);
  losses::detail::call<T> c{x, labels, refs, &grads, per_anchor, upstream};
  c.comm = &coll;
  return loss.evaluate_call(pol, c);
}

/// The gradients alone over the rank's shard; see the loss's backward().
template <communicator C, class Loss, class Policy, class T>
requires communicator_for<C, Policy> losses::loss_result<T> backward(
    C& comm, const Policy& pol, Loss& loss, matrix_view<const T> x,
    vector_view<const index_t> labels, const losses::references<T>& refs,
    const losses::gradients<T>& grads, vector_view<const T> upstream = {}) {
  detail::collective_adapter<C> coll(comm);
  losses::detail::call<T> c{x, labels, refs, &grads, {}, upstream};
  c.comm = &coll;
  c.gradients_only = true;
  losses::loss_result<T> r = loss.evaluate_call(pol, c);
  r.loss = std::numeric_limits<T>::quiet_NaN();
  return r;
}

/// One embedded training step over shards: the rank's class weights `weight` (the classes
/// `weight_classes`) and its shard of the feature memory; gradients as step() writes them
/// (d loss / d W for the rank's rows); the memory shard then takes the batch's rows of its
/// identities. See embedded_loss::step().
template <communicator C, class Policy, class T, class S2C, class S2S>
requires communicator_for<C, Policy> losses::embedded_result<T> step(
    C& comm, const Policy& pol, losses::embedded_loss<T, S2C, S2S>& loss, matrix_view<const T> x,
    vector_view<const index_t> labels, matrix_view<const T> weight,
    const class_shard& weight_classes, const losses::gradients<T>& grads,
    losses::feature_memory<T, Policy>& memory, index_t epoch) {
  detail::collective_adapter<C> coll(comm);
  return loss.evaluate_sharded(coll, pol, x, labels, weight, weight_classes, &grads, memory, epoch);
}

/// The embedded loss alone over shards (the memory is updated as in step()).
template <communicator C, class Policy, class T, class S2C, class S2S>
requires communicator_for<C, Policy> T forward(
    C& comm, const Policy& pol, losses::embedded_loss<T, S2C, S2S>& loss, matrix_view<const T> x,
    vector_view<const index_t> labels, matrix_view<const T> weight,
    const class_shard& weight_classes, losses::feature_memory<T, Policy>& memory, index_t epoch) {
  detail::collective_adapter<C> coll(comm);
  return loss.evaluate_sharded(coll, pol, x, labels, weight, weight_classes, nullptr, memory, epoch)
      .loss;
}

}  // namespace unitsface::distributed
