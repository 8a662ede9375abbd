// The sharded losses of tests/distributed on the CUDA backend: every loss over class shards,
// its ranks exchanging device buffers through NCCL (distributed/nccl.hpp), against the
// single-process loss on the same device. Run under mpirun (cuda/CMakeLists.txt); MPI only
// distributes the NCCL id. See tests/distributed/test_sharded_mpi.cpp.
#include <cuda_runtime.h>

#include "test_sharded_mpi.cpp"
