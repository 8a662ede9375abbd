// unitsface: the NCCL communicator of class-sharded losses (device buffers, one stream).
//
// Not part of the distributed module header: it needs nvcc, <nccl.h> and libnccl (the CUDA
// toolkit's). The caller creates the ncclComm_t (ncclCommInitRank, with an id it distributes
// itself, e.g. through MPI) and gives the stream of the loss's cuda_policy, so that the
// exchanges are ordered with the loss's kernels; nothing here synchronises but the host
// all-gather, which needs its result on the host.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "unitsface/distributed/communicator.hpp"

namespace unitsface::distributed {

/// A communicator over an NCCL communicator, on device memory and `stream`.
class nccl_communicator {
 public:
  static constexpr bool host_memory = false;

  nccl_communicator(ncclComm_t comm, cudaStream_t stream) : comm_(comm), stream_(stream) {
    check(ncclCommUserRank(comm_, &rank_), "ncclCommUserRank");
    check(ncclCommCount(comm_, &size_), "ncclCommCount");
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  ncclComm_t comm() const { return comm_; }
  cudaStream_t stream() const { return stream_; }

  /// ncclAllGather of bytes on the stream (ordered with the loss's kernels).
  void all_gather(const void* send, void* recv, std::size_t bytes) {
    check(ncclAllGather(send, recv, bytes, ncclChar, comm_, stream_), "ncclAllGather");
  }

  /// Host buffers: staged through device memory on the stream, which is synchronised.
  void all_gather_host(const void* send, void* recv, std::size_t bytes) {
    if (bytes == 0) return;
    unsigned char* d = nullptr;
    const std::size_t total = bytes * std::size_t(size_ + 1);
    cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&d), total, stream_), "cudaMallocAsync");
    cuda_check(cudaMemcpyAsync(d, send, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    check(ncclAllGather(d, d + bytes, bytes, ncclChar, comm_, stream_), "ncclAllGather");
    cuda_check(cudaMemcpyAsync(recv, d + bytes, bytes * std::size_t(size_), cudaMemcpyDeviceToHost,
                               stream_),
               "cudaMemcpyAsync");
    cuda_check(cudaFreeAsync(d, stream_), "cudaFreeAsync");
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  static void check(ncclResult_t rc, const char* what) {
    if (rc != ncclSuccess) {
      throw std::runtime_error(std::string("unitsface: ") + what + ": " + ncclGetErrorString(rc));
    }
  }
  static void cuda_check(cudaError_t rc, const char* what) {
    if (rc != cudaSuccess) {
      throw std::runtime_error(std::string("unitsface: ") + what + ": " + cudaGetErrorString(rc));
    }
  }
  ncclComm_t comm_;
  cudaStream_t stream_;
  int rank_ = 0, size_ = 1;
};

static_assert(communicator<nccl_communicator>);

}  // namespace unitsface::distributed
