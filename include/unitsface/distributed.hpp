// unitsface: every loss over class shards, and all-pairs verification over processes (module
// header). The MPI and NCCL communicators
// have headers of their own (distributed/mpi.hpp, distributed/nccl.hpp): they need their
// libraries, which this header does not.
#pragma once

#include "unitsface/distributed/all_pairs.hpp"
#include "unitsface/distributed/communicator.hpp"
#include "unitsface/distributed/global_batch.hpp"
#include "unitsface/distributed/memory_estimate.hpp"
#include "unitsface/distributed/sampling.hpp"
#include "unitsface/distributed/shard.hpp"
#include "unitsface/distributed/sharded_loss.hpp"
