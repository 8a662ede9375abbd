// unitsface: the MPI communicator of class-sharded losses (CPU buffers).
//
// Not part of the distributed module header: it needs <mpi.h> and an MPI library (Debian's
// libopenmpi-dev; CMake: find_package(MPI) and MPI::MPI_CXX). The caller initialises and
// finalises MPI; the communicator only uses an MPI_Comm.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "unitsface/distributed/communicator.hpp"

namespace unitsface::distributed {

/// A communicator over an MPI communicator (MPI_COMM_WORLD by default), on host memory.
class mpi_communicator {
 public:
  static constexpr bool host_memory = true;

  explicit mpi_communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      throw std::logic_error("unitsface: mpi_communicator: MPI is not initialised (MPI_Init)");
    }
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }

  /// MPI_Allgather of bytes; a message over INT_MAX bytes (MPI's int counts) goes in pieces.
  void all_gather(const void* send, void* recv, std::size_t bytes) {
    if (bytes <= std::size_t(INT_MAX)) {
      check(MPI_Allgather(send, int(bytes), MPI_BYTE, recv, int(bytes), MPI_BYTE, comm_),
            "MPI_Allgather");
      return;
    }
    const std::size_t piece = std::size_t(1) << 30;
    std::vector<unsigned char> tmp(piece * std::size_t(size_));
    for (std::size_t o = 0; o < bytes; o += piece) {
      const std::size_t n = std::min(piece, bytes - o);
      check(MPI_Allgather(static_cast<const unsigned char*>(send) + o, int(n), MPI_BYTE, tmp.data(),
                          int(n), MPI_BYTE, comm_),
            "MPI_Allgather");
      for (int r = 0; r < size_; ++r) {
        std::memcpy(static_cast<unsigned char*>(recv) + std::size_t(r) * bytes + o,
                    tmp.data() + std::size_t(r) * n, n);
      }
    }
  }
  void all_gather_host(const void* send, void* recv, std::size_t bytes) {
    all_gather(send, recv, bytes);
  }

 private:
  static void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw std::runtime_error(std::string("unitsface: ") + what + ": " + std::string(msg, len));
  }
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

static_assert(communicator<mpi_communicator>);

}  // namespace unitsface::distributed
