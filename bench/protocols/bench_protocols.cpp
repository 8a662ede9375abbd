// Protocols benchmark: each protocol against its product floor, side by side in one run.
//   bench_protocols [repeats, default 3] [scale, default 1] [dim, default 128]
//                   [protocols, default identify,megaface,all-pairs]
//                   [tile_rows, default 512] [tile_cols, default 8192]
// Synthetic clustered embeddings (protocols/synthetic.hpp, float32). For each CPU backend with a
// BLAS product (eigen, xtensor) and each protocol the median wall time of `repeats` runs is
// printed with the product floor: the same tiles computed by the backend's product alone, one
// gemm each into one buffer (for MegaFace: its two products; for all-pairs: one pass over
// every pair, its genuine pass's bands left out of the floor). The ratio is what normalisation, scaling and the reductions add to the products. `scale`
// multiplies the gallery, the distractors and the all-pairs set: scale 10 with dim 512 is
// MegaFace's 1,000,000 distractors of 512 dimensions (3,520 probes: 80 identities of 44 images).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "unitsface/core/policy.hpp"
#include "unitsface/protocols.hpp"
#if defined(UNITSFACE_WITH_EIGEN)
#include "unitsface/backends/eigen.hpp"
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
#include "unitsface/backends/xtensor.hpp"
#endif

#if defined(UNITSFACE_BENCH_OPENBLAS)
extern "C" char* openblas_get_corename();
extern "C" char* openblas_get_config();
#endif

namespace up = unitsface::protocols;
using unitsface::index_t;

namespace {

template <class F>
double median_seconds(int repeats, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void row(const char* protocol, const char* backend, const std::string& shape, double s,
         double floor) {
  std::printf("%-14s %-8s %-28s %9.3f s %9.3f s %6.2fx\n", protocol, backend, shape.c_str(), s,
              floor, s / floor);
}

struct setup {
  int repeats = 3;
  index_t scale = 1, dim = 128;
  std::string protocols = "identify,megaface,all-pairs";
  up::tile_options tiles;  // the protocols' tiles, and the floor's
  bool wants(const char* p) const {
    return ("," + protocols + ",").find(std::string(",") + p + ",") != std::string::npos;
  }
};

/// The product floor: the tiles of for_each_similarity_tile (the same shape and bands; with
/// `upper` only those holding a pair i < j), each one backends::gemm into one buffer, and
/// nothing else (no normalisation, no scaling, no reduction).
template <class Policy>
void products(const Policy& pol, unitsface::matrix_view<const float> a,
              unitsface::matrix_view<const float> b, bool upper, const up::tile_options& o) {
  const index_t tr = std::min(o.tile_rows, a.rows), tc = std::min(o.tile_cols, b.rows);
  auto buf = unitsface::backends::make_buffer<float>(pol, tr * tc);
  for (index_t i0 = 0; i0 < a.rows; i0 += tr) {
    const index_t nr = std::min(tr, a.rows - i0);
    for (index_t j0 = upper ? (i0 + 1) / tc * tc : 0; j0 < b.rows; j0 += tc) {
      const index_t nc = std::min(tc, b.rows - j0);
      unitsface::backends::gemm(
          pol, 1.0f, a.row_block(i0, nr), unitsface::backends::transpose(b.row_block(j0, nc)), 0.0f,
          unitsface::matrix_view<float>(unitsface::backends::data_ptr(buf), nr, nc));
    }
  }
}

/// `identities` x `per_identity` clustered float embeddings of `dim` dimensions.
up::synthetic_set<float> embeddings(index_t identities, index_t per_identity, index_t dim,
                                    std::uint64_t seed, long long first_label = 0) {
  up::synthetic_options o;
  o.identities = identities;
  o.per_identity = per_identity;
  o.dim = dim;
  o.seed = seed;
  o.first_label = first_label;
  return up::clustered_embeddings<float>(o);
}

std::string shape(index_t a, index_t b, index_t d) {
  return std::to_string(a) + " x " + std::to_string(b) + " x " + std::to_string(d);
}

template <class Policy>
void run(const Policy& pol, const char* backend, const setup& su) {
  const int repeats = su.repeats;
  const index_t scale = su.scale;
  if (su.wants("identify")) {
    // Open-set 1:N: 1,000 probes (half mated) against a gallery of 100,000 x scale, D = dim.
    const auto gallery = embeddings(20000 * scale, 5, su.dim, 1);
    // the first 500 probes' identities are in the gallery
    const auto probes = embeddings(1000, 1, su.dim, 2, 19500 * scale);
    const std::string shape1 = shape(probes.rows(), gallery.rows(), su.dim);
    const double t1 = median_seconds(repeats, [&] {
      up::open_set_options o;
      o.tiles = su.tiles;
      up::identification_1toN<float>(pol, gallery.view(), gallery.label_view(), probes.view(),
                                     probes.label_view(), o);
    });
    const double f1 = median_seconds(
        repeats, [&] { products(pol, probes.view(), gallery.view(), false, su.tiles); });
    row("identify", backend, shape1, t1, f1);
  }

  if (su.wants("megaface")) {
    // MegaFace single mate: 3,520 probes (80 identities of 44) against 100,000 x scale
    // distractors, D = dim.
    const auto probes = embeddings(80, 44, su.dim, 4);
    const auto distractors = embeddings(100000 * scale, 1, su.dim, 5, 1000);
    const std::string shape2 = shape(probes.rows(), distractors.rows(), su.dim);
    const double t = median_seconds(repeats, [&] {
      up::megaface_options o;
      o.tiles = su.tiles;
      up::megaface_single_mate<float>(pol, probes.view(), probes.label_view(), distractors.view(),
                                      o);
    });
    const double f = median_seconds(repeats, [&] {
      products(pol, probes.view(), probes.view(), false, su.tiles);
      products(pol, probes.view(), distractors.view(), false, su.tiles);
    });
    row("megaface", backend, shape2, t, f);
  }

  if (su.wants("all-pairs")) {
    // All pairs of 20,000 x scale rows (2,000 identities of 10), D = dim.
    const auto set = embeddings(2000 * scale, 10, su.dim, 3);
    const std::string shape3 = std::to_string(set.rows()) + " x " + std::to_string(su.dim);
    const double t2 = median_seconds(repeats, [&] {
      up::all_pairs_options o;
      o.tiles = su.tiles;
      up::all_pairs<float>(pol, set.view(), set.label_view(), o);
    });
    const double f2 = median_seconds(
        repeats, [&] { products(pol, set.view(), set.view(), true, su.tiles); });
    row("all-pairs", backend, shape3, t2, f2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  setup su;
  if (argc > 1) su.repeats = std::max(1, std::atoi(argv[1]));
  if (argc > 2) su.scale = std::max(1, std::atoi(argv[2]));
  if (argc > 3) su.dim = std::max(1, std::atoi(argv[3]));
  if (argc > 4) su.protocols = argv[4];
  if (argc > 5) su.tiles.tile_rows = std::max(1, std::atoi(argv[5]));
  if (argc > 6) su.tiles.tile_cols = std::max(1, std::atoi(argv[6]));
#if defined(UNITSFACE_BENCH_OPENBLAS)
  std::printf("openblas: %s | core %s\n", openblas_get_config(), openblas_get_corename());
#endif
  std::printf("host threads reducing the tiles: %lld\n",
              static_cast<long long>(unitsface::detail::host_shares(0)));
  std::printf("%-14s %-8s %-28s %11s %11s %7s\n", "protocol", "backend", "shape", "time", "floor",
              "ratio");
#if defined(UNITSFACE_WITH_EIGEN)
  run(unitsface::eigen_policy{}, "eigen", su);
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  run(unitsface::xtensor_policy{}, "xtensor", su);
#endif
  return 0;
}
