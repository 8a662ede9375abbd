// All-pairs verification (the MFR protocol: every pair of one labelled set) with the
// similarity tiles on the CUDA policy, timed:
//   bench_all_pairs_cuda [N, default 100000] [D, default 512] [per identity, default 10]
//                        [tile rows, default 512] [tile columns, default 8192]
// Synthetic clustered embeddings (protocols/synthetic.hpp, float32). The tiles are computed by
// cuBLAS and counted on the device (protocols/all_pairs_device.hpp): the genuine scores from
// the label groups' bands (their tiles come to the host), then one pass over the N (N - 1) / 2
// pairs counting each tile's impostors into the genuine scores' buckets where it is produced;
// only the counts come back. The time covers the rows' normalisation and upload, the genuine
// pass, the products and the counting. Next to it, the same tiles' products alone (the floor:
// one cuBLAS product per tile, nothing read) on the rows already uploaded; the rest of the
// time is the counting, the genuine pass and the upload. Exits with 77 without a CUDA device.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "../bench/cuda_device.hpp"
#include "unitsface/backends/cuda.hpp"
#include "unitsface/protocols/all_pairs.hpp"
#include "unitsface/protocols/all_pairs_device.hpp"
#include "unitsface/protocols/synthetic.hpp"

int main(int argc, char** argv) {
  using namespace unitsface;
  using clock = std::chrono::steady_clock;
  if (!bench::cuda_device_present("bench_all_pairs_cuda")) return 77;
  const long long n = argc > 1 ? std::atoll(argv[1]) : 100000;
  const long long d = argc > 2 ? std::atoll(argv[2]) : 512;
  const long long per = argc > 3 ? std::atoll(argv[3]) : 10;
  protocols::all_pairs_options ao;
  if (argc > 4) ao.tiles.tile_rows = index_t(std::atoll(argv[4]));
  if (argc > 5) ao.tiles.tile_cols = index_t(std::atoll(argv[5]));
  if (n < 2 || d < 1 || per < 1 || n % per != 0 || ao.tiles.tile_rows < 1 ||
      ao.tiles.tile_cols < 1) {
    std::fprintf(stderr,
                 "usage: bench_all_pairs_cuda [N] [D] [per identity, dividing N] [tile rows] "
                 "[tile columns]\n");
    return 2;
  }
  protocols::synthetic_options o;
  o.identities = index_t(n / per);
  o.per_identity = index_t(per);
  o.dim = index_t(d);
  const auto t0 = clock::now();
  const auto set = protocols::clustered_embeddings<float>(o);
  const auto t1 = clock::now();
  const cuda_policy pol{};
  const auto r = protocols::all_pairs<float>(pol, set.view(), set.label_view(), ao);
  const auto t2 = clock::now();
  const double s = std::chrono::duration<double>(t2 - t1).count();
  // The products' floor: the same tiles, products only, timed from the rows on the device to
  // the stream's end.
  const protocols::unit_rows<float, cuda_policy> rows(pol, set.view(), "features");
  backends::cuda_detail::check(cudaStreamSynchronize(pol.state.stream), "cudaStreamSynchronize");
  const auto t3 = clock::now();
  long long tiles = 0;
  double flop = 0;
  protocols::detail::for_each_device_tile(pol, rows, ao.tiles,
                                          [&](index_t, index_t, index_t nr, index_t nc, float*) {
                                            ++tiles;
                                            flop += 2.0 * double(d) * double(nr) * double(nc);
                                          });
  backends::cuda_detail::check(cudaStreamSynchronize(pol.state.stream), "cudaStreamSynchronize");
  const double products = std::chrono::duration<double>(clock::now() - t3).count();
  const double pairs = double(n) * double(n - 1) / 2.0;
  std::printf(
      "all_pairs/cuda/N:%lld/D:%lld  %.3f s  %.3g pairs/s  genuine %lld  impostor %lld  auc "
      "%.9f  eer %.6f  (synthetic set made in %.1f s)\n",
      n, d, s, pairs / s, (long long)r.genuine, (long long)r.impostor, r.auc, r.eer.eer,
      std::chrono::duration<double>(t1 - t0).count());
  std::printf(
      "  split: products alone %.3f s (%lld tiles of %lld x %lld, %.1f TFLOP/s over the tiles), "
      "the rest %.3f s (counting on the device, genuine pass, rows' upload)\n",
      products, tiles, (long long)ao.tiles.tile_rows, (long long)ao.tiles.tile_cols,
      flop / products * 1e-12, s - products);
  for (const auto& t : r.at_most)
    std::printf("  TAR %.6f at FAR <= %.3g (FAR %.3g, threshold %.6f)\n", t.tar, t.target, t.far,
                t.threshold);
  return 0;
}
