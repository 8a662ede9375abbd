// unitsface: the global batch of a class-sharded step (PartialFC's layout).
//
// Each rank computes the embeddings of its own b samples; a class-sharded loss needs every
// sample on every rank, since each rank's classes are compared with all of them. global_batch
// all-gathers the ranks' local batches (equal sizes, in rank order) into the B = ranks x b
// global one, and local_part() picks this rank's rows out of a B x D result, such as
// d loss / d x, to continue the backward pass through its own network replica.
#pragma once

#include <string>
#include <vector>

#include "unitsface/backends/primitives.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/distributed/communicator.hpp"
#include "unitsface/losses/detail/validate_shards.hpp"

namespace unitsface::distributed {

namespace detail {
template <class T>
struct pack_rows {  // dst (contiguous n x d) = src (any strides)
  matrix_view<const T> src;
  T* dst;
  UNITSFACE_HD void operator()(index_t i) const {
    for (index_t k = 0; k < src.cols; ++k) dst[i * src.cols + k] = src(i, k);
  }
};
}  // namespace detail

/// The global batch: every rank's local batch, all-gathered in rank order, in the policy's
/// memory.
template <class T, class Policy>
class global_batch {
 public:
  /// `x_local`: this rank's b x D embeddings (any strides), `labels_local`: their b labels
  /// (contiguous). Every rank must pass the same b and D: checked collectively, so that a
  /// mismatch is the same error on every rank.
  template <communicator C>
  requires communicator_for<C, Policy> global_batch(C& comm, const Policy& pol,
                                                    matrix_view<const T> x_local,
                                                    vector_view<const index_t> labels_local)
      : rank_(comm.rank()), ranks_(comm.size()), b_(x_local.rows), D_(x_local.cols) {
    namespace ld = unitsface::losses::detail;
    detail::collective_adapter<C> coll(comm);
    ld::agree_or_throw(coll, [&] {
      ld::require(x_local.rows > 0, "input", "the local batch is empty");
      ld::require(x_local.cols > 0, "input", "the embedding dimension is 0");
      ld::require(x_local.data != nullptr, "input", "null data");
      ld::require_size("labels", labels_local.size(), x_local.rows);
      ld::require(labels_local.data != nullptr, "labels", "null data");
      ld::require(labels_local.stride == 1, "labels", "must be contiguous (stride 1)");
    });
    index_t mine[2] = {b_, D_};
    std::vector<index_t> all(static_cast<std::size_t>(2 * ranks_));
    comm.all_gather_host(mine, all.data(), sizeof(mine));
    for (int r = 1; r < ranks_; ++r) {
      ld::require(all[std::size_t(2 * r)] == all[0] && all[std::size_t(2 * r + 1)] == all[1],
                  "input",
                  "rank " + std::to_string(r) + "'s local batch is " +
                      std::to_string(all[std::size_t(2 * r)]) + " x " +
                      std::to_string(all[std::size_t(2 * r + 1)]) + ", rank 0's " +
                      std::to_string(all[0]) + " x " + std::to_string(all[1]) +
                      ": every rank contributes as many samples of the same dimension");
    }
    const index_t B = b_ * ranks_;
    auto packed = backends::make_buffer<T>(pol, b_ * D_);
    backends::for_each_index(pol, b_, detail::pack_rows<T>{x_local, backends::data_ptr(packed)});
    x_ = backends::make_buffer<T>(pol, B * D_);
    labels_ = backends::make_buffer<index_t>(pol, B);
    comm.all_gather(backends::data_ptr(packed), backends::data_ptr(x_),
                    sizeof(T) * std::size_t(b_ * D_));
    comm.all_gather(labels_local.data, backends::data_ptr(labels_),
                    sizeof(index_t) * std::size_t(b_));
  }

  /// The B x D global batch and its B labels (the same on every rank).
  matrix_view<const T> input() const {
    return matrix_view<const T>(backends::data_ptr(x_), b_ * ranks_, D_);
  }
  vector_view<const index_t> labels() const {
    return vector_view<const index_t>(backends::data_ptr(labels_), b_ * ranks_);
  }
  index_t size() const { return b_ * ranks_; }
  /// This rank's rows of the global batch: [first_row(), first_row() + local_size()).
  index_t first_row() const { return b_ * rank_; }
  index_t local_size() const { return b_; }

  /// This rank's rows of a B x D matrix over the global batch (d loss / d x, for instance).
  template <class U>
  matrix_view<U> local_part(matrix_view<U> global) const {
    unitsface::detail::require(
        global.rows == size(), "global",
        "has " + std::to_string(global.rows) + " rows, the batch " + std::to_string(size()));
    return global.row_block(first_row(), b_);
  }

 private:
  int rank_, ranks_;
  index_t b_, D_;
  decltype(backends::make_buffer<T>(std::declval<const Policy&>(), 0)) x_;
  decltype(backends::make_buffer<index_t>(std::declval<const Policy&>(), 0)) labels_;
};

}  // namespace unitsface::distributed
