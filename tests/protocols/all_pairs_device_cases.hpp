// Test support: all_pairs with its tiles reduced on the device (protocols/all_pairs_device.hpp)
// against the same policy's tiles copied to the host and reduced there (the path of every
// other policy), for a policy whose memory is not the host's: tests/protocols runs these on
// the simulated device (the generic Thrust pass), cuda/metrics_tests_cuda.cu on cuda_policy
// (the CUDA kernel). Both paths see the same products (one tile shape, one product), so every
// count, rate and threshold must be equal to the bit.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "unitsface/protocols/all_pairs.hpp"
#include "unitsface/protocols/all_pairs_device.hpp"

namespace unitsface::test::all_pairs_device {

/// Identities of 1 to 6 rows (some of one: no genuine pair), as centres on the sphere plus
/// noise, random norms, the rows shuffled (label groups are not contiguous) and labels not
/// dense; every fifth identity's first row copied under another
/// identity's label, so that impostor scores equal genuine ones (a third row scores the same
/// against a row and its copy) and the "equal" buckets are used.
struct labelled_set {
  index_t D = 0;
  std::vector<double> x;
  std::vector<long long> label;
  labelled_set(std::uint32_t seed, index_t ids, index_t D_, double noise) : D(D_) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> z(0.0, 1.0);
    std::uniform_real_distribution<double> norm(0.5, 3.0);
    std::uniform_int_distribution<int> per(1, 6);
    std::vector<std::vector<double>> rows;
    std::vector<long long> lab;
    for (index_t c = 0; c < ids; ++c) {
      std::vector<double> centre(static_cast<std::size_t>(D));
      for (auto& v : centre) v = z(rng);
      const int n = per(rng);
      const std::size_t first = rows.size();
      for (int r = 0; r < n; ++r) {
        const double s = norm(rng);
        std::vector<double> row(static_cast<std::size_t>(D));
        for (index_t k = 0; k < D; ++k)
          row[std::size_t(k)] = s * (centre[std::size_t(k)] + noise * z(rng));
        rows.push_back(row);
        lab.push_back(5 + 3 * c);
      }
      if (c % 5 == 4) {
        rows.push_back(rows[first]);
        lab.push_back(5 + 3 * (c - 2));
      }
    }
    std::vector<std::size_t> order(rows.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      x.insert(x.end(), rows[i].begin(), rows[i].end());
      label.push_back(lab[i]);
    }
  }
  index_t rows() const { return index_t(label.size()); }
  matrix_view<const double> view() const { return {x.data(), rows(), D}; }
  vector_view<const long long> labels() const { return {label.data(), rows()}; }
};

/// Tile shapes whose tiles straddle label groups and the diagonal, none dividing the set's
/// rows, and one tile holding the whole set.
inline std::vector<protocols::tile_options> tile_shapes() {
  return {{1, 1}, {3, 5}, {7, 64}, {16, 300}, {64, 50}, {37, 11}, {512, 8192}};
}

template <class A, class B>
void require_same(const A& d, const B& h) {
  CHECK(d.genuine == h.genuine);
  CHECK(d.impostor == h.impostor);
  CHECK(d.auc == h.auc);
  CHECK(d.eer.eer == h.eer.eer);
  CHECK(d.eer.threshold == h.eer.threshold);
  REQUIRE(d.at_most.size() == h.at_most.size());
  for (std::size_t k = 0; k < d.at_most.size(); ++k) {
    CHECK(d.at_most[k].tar == h.at_most[k].tar);
    CHECK(d.at_most[k].far == h.at_most[k].far);
    CHECK(d.at_most[k].threshold == h.at_most[k].threshold);
  }
}

/// The device-reduced all_pairs against the host-reduced one on `pol`, over every tile shape
/// (`shapes`: how many of tile_shapes(), the first ones being the slowest on a simulator).
template <class T, class Policy>
void device_equals_host(const Policy& pol, const labelled_set& set, std::size_t first_shape = 0) {
  const index_t n = set.rows();
  const auto shapes = tile_shapes();
  for (std::size_t s = first_shape; s < shapes.size(); ++s) {
    const auto& tiles = shapes[s];
    CAPTURE(n, tiles.tile_rows, tiles.tile_cols);
    protocols::all_pairs_options o;
    o.far_targets = {1e-3, 1e-2, 0.05, 0.2};
    o.tiles = tiles;
    const auto d = protocols::all_pairs<T>(pol, set.view(), set.labels(), o);
    o.device_reduction = false;
    const auto h = protocols::all_pairs<T>(pol, set.view(), set.labels(), o);
    require_same(d, h);
    CHECK(d.genuine + d.impostor == n * (n - 1) / 2);
  }
}

}  // namespace unitsface::test::all_pairs_device
