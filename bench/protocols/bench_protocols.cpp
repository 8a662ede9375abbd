// Protocols benchmark: each protocol against its product floor, side by side in one run.
//   bench_protocols [repeats, default 3] [scale, default 1]
// Synthetic clustered embeddings (protocols/synthetic.hpp, float32). For each CPU backend with a
// BLAS product (eigen, xtensor) and each protocol the median wall time of `repeats` runs is
// printed with the floor: the same similarity tiles computed by the backend's product and
// copied out, with a visitor that does nothing (for all-pairs: both of its passes). The ratio
// is what the protocol's reductions add to the products. `scale` multiplies the set sizes.
#include <algorithm>
#include <chrono>
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

template <class Policy>
void run(const Policy& pol, const char* backend, int repeats, index_t scale) {
  // Open-set 1:N: 1,000 probes (half mated) against a gallery of 100,000 x scale, D = 128.
  up::synthetic_options g;
  g.identities = 20000 * scale;
  g.per_identity = 5;
  g.dim = 128;
  const auto gallery = up::clustered_embeddings<float>(g);
  up::synthetic_options p = g;
  p.identities = 1000;
  p.per_identity = 1;
  p.first_label = 19500 * scale;  // the first 500 probes' identities are in the gallery
  p.seed = 2;
  const auto probes = up::clustered_embeddings<float>(p);
  const std::string shape1 = std::to_string(probes.rows()) + " x " +
                             std::to_string(gallery.rows()) + " x " + std::to_string(g.dim);
  const double t1 = median_seconds(repeats, [&] {
    up::identification_1toN<float>(pol, gallery.view(), gallery.label_view(), probes.view(),
                                   probes.label_view());
  });
  const double f1 = median_seconds(repeats, [&] {
    const up::unit_rows<float, Policy> a(pol, probes.view(), "probes");
    const up::unit_rows<float, Policy> b(pol, gallery.view(), "gallery");
    up::for_each_similarity_tile(pol, a, b, [](index_t, index_t, auto) {});
  });
  row("identify", backend, shape1, t1, f1);

  // All pairs of 20,000 x scale rows (2,000 identities of 10), D = 128.
  up::synthetic_options s;
  s.identities = 2000 * scale;
  s.per_identity = 10;
  s.dim = 128;
  s.seed = 3;
  const auto set = up::clustered_embeddings<float>(s);
  const std::string shape2 = std::to_string(set.rows()) + " x " + std::to_string(s.dim);
  const double t2 = median_seconds(repeats, [&] {
    up::all_pairs<float>(pol, set.view(), set.label_view());
  });
  const double f2 = median_seconds(repeats, [&] {
    const up::unit_rows<float, Policy> a(pol, set.view(), "features");
    for (int pass = 0; pass < 2; ++pass)
      up::for_each_similarity_tile(pol, a, a, [](index_t, index_t, auto) {}, {}, true);
  });
  row("all-pairs", backend, shape2, t2, f2);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  const index_t scale = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  std::printf("%-14s %-8s %-28s %11s %11s %7s\n", "protocol", "backend", "shape", "time",
              "floor", "ratio");
#if defined(UNITSFACE_WITH_EIGEN)
  run(unitsface::eigen_policy{}, "eigen", repeats, scale);
#endif
#if defined(UNITSFACE_WITH_XTENSOR)
  run(unitsface::xtensor_policy{}, "xtensor", repeats, scale);
#endif
  return 0;
}
