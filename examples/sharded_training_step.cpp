// sharded_training_step: UniTSFace's embedded loss (CosFace + USS-m over the feature memory)
// with its class weights and its memory split by class over MPI ranks, as a million-identity
// head is trained (docs/distributed.md):
//
//   mpirun -np 4 build/examples/sharded_training_step [--classes C] [--dim D] [--local-batch b]
//          [--steps N]
//
// Every rank draws its own b samples (its share of the data: noisy copies of the identities'
// prototypes), the ranks all-gather them into the global batch (PartialFC's layout), and each
// rank evaluates the loss against its classes only: its rows of the class weights and of the
// feature memory. The losses exchange row statistics and partial gradients through the MPI
// communicator; every rank gets the loss and d loss / d x of the whole batch, keeps its rows of
// d loss / d x for its own network replica, and updates its rows of W by SGD. Prints, per rank,
// its shard, the memory it holds (the library's estimate next to the arrays it allocated), and
// the time of a step split between computation and communication; exits 1 unless training
// lowered the head's loss.
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "unitsface/distributed.hpp"
#include "unitsface/distributed/global_batch.hpp"
#include "unitsface/distributed/memory_estimate.hpp"
#include "unitsface/distributed/mpi.hpp"
#include "unitsface/losses.hpp"

namespace uf = unitsface;
namespace ufl = unitsface::losses;
namespace dist = unitsface::distributed;
using T = float;
using uf::index_t;

namespace {
index_t option(int argc, char** argv, const char* name, index_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  }
  return fallback;
}
double mib(std::size_t bytes) {
  return double(bytes) / (1024.0 * 1024.0);
}
}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int status = 0;
  try {
    const index_t C = option(argc, argv, "--classes", 2000);
    const index_t D = option(argc, argv, "--dim", 64);
    const index_t b = option(argc, argv, "--local-batch", 64);
    const index_t steps = option(argc, argv, "--steps", 20);
    dist::mpi_communicator mpi;
    dist::metered<dist::mpi_communicator> comm(mpi);  // counts time and bytes of the exchanges
    const int rank = comm.rank(), ranks = comm.size();
    const uf::host_policy pol;
    const dist::class_shard shard = dist::even_shard(C, ranks, rank);

    // The identities' prototypes, the same on every rank (one seed); each rank's samples
    // from its own stream.
    std::mt19937_64 shared(11), own(1000 + std::uint64_t(rank));
    std::normal_distribution<T> normal(0, 1);
    std::vector<T> prototypes(std::size_t(C * D));
    for (T& v : prototypes) v = normal(shared);
    // This rank's rows of the class weights, small random values; its memory shard.
    std::vector<T> W(std::size_t(shard.count * D)), gW(W.size());
    for (T& v : W) v = T(0.05) * normal(own);
    ufl::feature_memory<T> memory(shard, D);

    ufl::binary_options<T> uo;  // USS-m: s = 64, m = 0.1 (official)
    ufl::embedded_options<T> eo;
    eo.warmup_epochs = 1;  // the first steps fill the memory: "epoch" 0 below
    ufl::embedded_loss<T> loss(ufl::cosface_loss<T>(ufl::cosface_options<T>(T(0.4), T(64))),
                               ufl::uss_loss<T>(uo), eo);
    const T lr = T(2.0);

    std::vector<T> x_local(std::size_t(b * D)), gx(std::size_t(b * ranks * D));
    std::vector<index_t> y_local(static_cast<std::size_t>(b));
    std::uniform_int_distribution<index_t> pick(0, C - 1);
    // The head's loss (CosFace) over the first and the last three steps: the class weights
    // learn (the total adds the USS part once the warm-up has filled the memory).
    double first_s2c = 0, last_s2c = 0, t_step = 0;
    comm.reset();
    for (index_t step = 0; step < steps; ++step) {
      for (index_t i = 0; i < b; ++i) {
        y_local[std::size_t(i)] = pick(own);
        for (index_t k = 0; k < D; ++k) {
          x_local[std::size_t(i * D + k)] =
              prototypes[std::size_t(y_local[std::size_t(i)] * D + k)] + T(0.7) * normal(own);
        }
      }
      const auto t0 = std::chrono::steady_clock::now();
      const dist::global_batch<T, uf::host_policy> batch(
          comm, pol, uf::matrix_view<const T>(x_local.data(), b, D),
          uf::vector_view<const index_t>(y_local.data(), b));
      const ufl::gradients<T> g(uf::matrix_view<T>(gx.data(), batch.size(), D),
                                uf::matrix_view<T>(gW.data(), shard.count, D));
      const index_t epoch = step < steps / 3 ? 0 : 1;
      const ufl::embedded_result<T> r =
          dist::step(comm, pol, loss, batch.input(), batch.labels(),
                     uf::matrix_view<const T>(W.data(), shard.count, D), shard, g, memory, epoch);
      for (std::size_t k = 0; k < W.size(); ++k) W[k] -= lr * gW[k];
      t_step += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // d loss / d x of this rank's samples: what its network replica back-propagates.
      const uf::matrix_view<T> mine =
          batch.local_part(uf::matrix_view<T>(gx.data(), batch.size(), D));
      double norm = 0;
      for (index_t i = 0; i < mine.rows; ++i)
        for (index_t k = 0; k < D; ++k) norm += double(mine(i, k)) * double(mine(i, k));
      if (step < 3) first_s2c += r.s2c_loss / 3.0;
      if (step >= steps - 3) last_s2c += r.s2c_loss / 3.0;
      if (rank == 0) {
        std::printf(
            "step %2ld  loss %.4f (s2c %.4f, s2s %.4f)  |d loss/d x| of rank 0's rows %.3g\n",
            long(step), double(r.loss), double(r.s2c_loss), double(r.s2s_loss), std::sqrt(norm));
      }
    }

    // Per rank: the shard, its memory, and where the step's time went.
    dist::shard_problem sp;
    sp.batch = b * ranks;
    sp.classes = C;
    sp.dim = D;
    sp.ranks = ranks;
    sp.rank = rank;
    sp.bias = dist::bias_kind::scalar;
    const dist::memory_estimate head = dist::estimate_memory<T>(sp);
    sp.references = ufl::reference_kind::memory;
    const dist::memory_estimate mem = dist::estimate_memory<T>(sp);
    const std::size_t held = (W.size() + gW.size() + gx.size() + x_local.size()) * sizeof(T) +
                             std::size_t(shard.count) * std::size_t(D) * sizeof(T) +
                             std::size_t(shard.count);
    char line[512];
    std::snprintf(line, sizeof(line),
                  "rank %d: classes [%ld, %ld) of %ld; holds %.2f MiB (W, dW, memory, batch); "
                  "estimate %.2f MiB + %.2f MiB working (head) / %.2f MiB (memory part); "
                  "%d steps %.3f s: compute %.3f s, communication %.3f s in %zu exchanges, "
                  "%.2f MiB received\n",
                  rank, long(shard.first), long(shard.end()), long(C), mib(held),
                  mib(head.references + head.reference_gradient + mem.references + head.batch),
                  mib(head.working), mib(mem.working), int(steps), t_step, t_step - comm.seconds(),
                  comm.seconds(), comm.calls(), mib(comm.bytes_received()));
    // Rank order: each rank's line goes to rank 0, which prints them.
    std::vector<char> all(sizeof(line) * std::size_t(ranks));
    MPI_Gather(line, sizeof(line), MPI_CHAR, all.data(), sizeof(line), MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      for (int r = 0; r < ranks; ++r)
        std::fputs(all.data() + sizeof(line) * std::size_t(r), stdout);
      std::printf("CosFace loss %.4f (first 3 steps) -> %.4f (last 3) over %ld steps\n", first_s2c,
                  last_s2c, long(steps));
    }
    status = last_s2c < first_s2c ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sharded_training_step: %s\n", e.what());
    status = 2;
  }
  MPI_Finalize();
  return status;
}
