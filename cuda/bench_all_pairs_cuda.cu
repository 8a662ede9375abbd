// All-pairs verification (the MFR protocol: every pair of one labelled set) with the
// similarity tiles on the CUDA policy, timed:
//   bench_all_pairs_cuda [N, default 100000] [D, default 512] [per identity, default 10]
// Synthetic clustered embeddings (protocols/synthetic.hpp, float32). The tiles are computed by
// cuBLAS and reduced on the host's threads (OpenMP): the genuine scores from the label groups'
// bands, then one pass over the N (N - 1) / 2 pairs counting the impostors against them. The
// time covers the products, the tiles' copies to the host and the reductions. Exits with 77 without
// a CUDA device.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "../bench/cuda_device.hpp"
#include "unitsface/backends/cuda.hpp"
#include "unitsface/protocols/all_pairs.hpp"
#include "unitsface/protocols/synthetic.hpp"

int main(int argc, char** argv) {
  using namespace unitsface;
  if (!bench::cuda_device_present("bench_all_pairs_cuda")) return 77;
  const long long n = argc > 1 ? std::atoll(argv[1]) : 100000;
  const long long d = argc > 2 ? std::atoll(argv[2]) : 512;
  const long long per = argc > 3 ? std::atoll(argv[3]) : 10;
  if (n < 2 || d < 1 || per < 1 || n % per != 0) {
    std::fprintf(stderr, "usage: bench_all_pairs_cuda [N] [D] [per identity, dividing N]\n");
    return 2;
  }
  protocols::synthetic_options o;
  o.identities = index_t(n / per);
  o.per_identity = index_t(per);
  o.dim = index_t(d);
  const auto t0 = std::chrono::steady_clock::now();
  const auto set = protocols::clustered_embeddings<float>(o);
  const auto t1 = std::chrono::steady_clock::now();
  const auto r = protocols::all_pairs<float>(cuda_policy{}, set.view(), set.label_view());
  const auto t2 = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(t2 - t1).count();
  const double pairs = double(n) * double(n - 1) / 2.0;
  std::printf(
      "all_pairs/cuda/N:%lld/D:%lld  %.3f s  %.3g pairs/s  genuine %lld  impostor %lld  auc "
      "%.9f  eer %.6f  (synthetic set made in %.1f s)\n",
      n, d, s, pairs / s, (long long)r.genuine, (long long)r.impostor, r.auc, r.eer.eer,
      std::chrono::duration<double>(t1 - t0).count());
  for (const auto& t : r.at_most)
    std::printf("  TAR %.6f at FAR <= %.3g (FAR %.3g, threshold %.6f)\n", t.tar, t.target, t.far,
                t.threshold);
  return 0;
}
