// unitsface protocols: synthetic embeddings of benchmark size (no face dataset is needed to time
// or test a protocol at IJB-C or MegaFace scale).
//
// Identities are centres drawn uniformly on the unit sphere of R^D; a sample of identity c is
// centre_c + sigma * g / sqrt(D) (g standard normal), times a random norm in [norm_min,
// norm_max] (so that a missing normalisation shows). Two samples of one identity then have a
// cosine near 1 / (1 + sigma^2) (sigma is chosen from the `genuine_cosine` asked for), two of
// different identities a cosine near 0 with spread about 1 / sqrt(D): the separation of the
// genuine and impostor distributions is set by genuine_cosine and D. Deterministic for a given
// seed and standard library (std::mt19937_64 and std::normal_distribution).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"

namespace unitsface::protocols {

struct synthetic_options {
  index_t identities = 100;
  index_t per_identity = 10;    ///< samples per identity
  index_t dim = 512;            ///< D
  double genuine_cosine = 0.6;  ///< expected cosine of two samples of one identity, in (0, 1)
  double norm_min = 0.5, norm_max = 3.0;
  long long first_label = 0;  ///< identity c gets label first_label + c
  std::uint64_t seed = 1;
};

template <class T>
struct synthetic_set {
  std::vector<T> features;  ///< rows() x dim, row-major, identity by identity
  std::vector<long long> labels;
  index_t dim = 0;
  index_t rows() const { return index_t(labels.size()); }
  matrix_view<const T> view() const { return {features.data(), rows(), dim}; }
  vector_view<const long long> label_view() const { return {labels.data(), rows()}; }
};

/// Clusters on the sphere as described above.
template <class T>
synthetic_set<T> clustered_embeddings(const synthetic_options& o) {
  using unitsface::detail::require;
  require(o.identities > 0, "identities", "must be > 0");
  require(o.per_identity > 0, "per_identity", "must be > 0");
  require(o.dim > 0, "dim", "must be > 0");
  require(o.genuine_cosine > 0 && o.genuine_cosine < 1, "genuine_cosine", "must lie in (0, 1)");
  require(o.norm_min > 0 && o.norm_max >= o.norm_min, "norm_min",
          "norms must satisfy 0 < norm_min <= norm_max");
  const double sigma = std::sqrt(1.0 / o.genuine_cosine - 1.0) / std::sqrt(double(o.dim));
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::uniform_real_distribution<double> norm(o.norm_min, o.norm_max);
  synthetic_set<T> s;
  s.dim = o.dim;
  s.features.reserve(std::size_t(o.identities * o.per_identity * o.dim));
  std::vector<double> centre(std::size_t(o.dim)), x(std::size_t(o.dim));
  for (index_t c = 0; c < o.identities; ++c) {
    double ss = 0;
    for (auto& v : centre) {
      v = z(rng);
      ss += v * v;
    }
    for (auto& v : centre) v /= std::sqrt(ss);
    for (index_t r = 0; r < o.per_identity; ++r) {
      const double n = norm(rng);
      for (index_t k = 0; k < o.dim; ++k)
        s.features.push_back(static_cast<T>(n * (centre[std::size_t(k)] + sigma * z(rng))));
      s.labels.push_back(o.first_label + c);
    }
  }
  return s;
}

}  // namespace unitsface::protocols
