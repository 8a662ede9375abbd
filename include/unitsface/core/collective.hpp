// unitsface: the communication a class-sharded loss needs, as the losses see it.
//
// A loss over class shards (docs/distributed.md) exchanges three things between the ranks
// that hold the shards: the per-anchor row statistics between its passes, the per-anchor
// losses and the partial input gradients after its element pass, and one record per rank
// for the collective argument checks. All of them are all-gathers, combined afterwards in
// rank order on every rank: the result is then bitwise the same on every rank and does not
// depend on the order in which a reduction algorithm of the engine adds (MPI and NCCL leave
// that order unspecified). The losses see this one abstract interface, so that they are not
// templates of the engine; unitsface::distributed adapts any type that models its
// `communicator` concept to it (distributed/communicator.hpp).
#pragma once

#include <cstddef>

namespace unitsface {

/// The collective operations of a class-sharded loss (type-erased; see
/// distributed::communicator for the concept and its implementations).
class collective {
 public:
  virtual ~collective() = default;
  /// This process's rank in [0, size()).
  virtual int rank() const = 0;
  /// The number of ranks.
  virtual int size() const = 0;
  /// Every rank's `bytes` bytes at `send` arrive at `recv` (size() * bytes), in rank order.
  /// Both buffers are in the memory the loss's policy addresses (device memory for a device
  /// policy); every rank must call it with the same `bytes`.
  virtual void all_gather(const void* send, void* recv, std::size_t bytes) = 0;
  /// The same for buffers in host memory (argument checks, scalars the host decides on).
  virtual void all_gather_host(const void* send, void* recv, std::size_t bytes) = 0;
};

}  // namespace unitsface
