// metrics/detail/pack_kept.hpp: every packing path this CPU can run (the generic loop always,
// AVX-512 where the CPU has it) against a reference written as a filter, over block lengths
// around the 16-entry registers and keep densities from none to all.
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

#include "unitsface/metrics/detail/pack_kept.hpp"

namespace umd = unitsface::metrics::detail;
using unitsface::index_t;

TEMPLATE_TEST_CASE("pack_kept: the kept cells and scores in order, on every path the CPU has",
                   "[metrics][pack]", float, double) {
  using S = TestType;
  std::vector<umd::pack_isa> paths{umd::pack_isa::generic};
  if (umd::pack_isa_available(umd::pack_isa::avx512)) {
    paths.push_back(umd::pack_isa::avx512);
  } else {
    WARN("this CPU has no AVX-512: only the generic packing is tested");
  }
  CHECK(umd::pack_isa_available(umd::pack_isa_in_use()));

  std::mt19937 rng(20261203);
  for (const double density : {0.0, 0.05, 0.5, 0.95, 1.0}) {
    std::bernoulli_distribution keep_it(density);
    for (const index_t m : {0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 255, 256}) {
      const auto size = static_cast<std::size_t>(m);
      std::vector<std::int32_t> keep(size), cell(size);
      std::vector<S> score(size);
      std::vector<std::int32_t> want_cell;
      std::vector<S> want_score;
      for (index_t j = 0; j < m; ++j) {
        // Keep flags other than 1 count as kept too (the contract is keep != 0).
        keep[std::size_t(j)] = keep_it(rng) ? std::int32_t(1 + j % 3) : 0;
        cell[std::size_t(j)] = std::int32_t(rng() % 100000);
        score[std::size_t(j)] = S(double(rng()) / 1e9 - 2.0);
        if (keep[std::size_t(j)] != 0) {
          want_cell.push_back(cell[std::size_t(j)]);
          want_score.push_back(score[std::size_t(j)]);
        }
      }
      for (const umd::pack_isa isa : paths) {
        CAPTURE(density, m, int(isa));
        // Poisoned outputs: what the path does not write stays visible.
        std::vector<std::int32_t> got_cell(size, -7);
        std::vector<S> got_score(size, S(-7));
        const index_t k = umd::pack_kept(isa, keep.data(), cell.data(), score.data(), m,
                                         got_cell.data(), got_score.data());
        REQUIRE(k == index_t(want_cell.size()));
        got_cell.resize(std::size_t(k));
        got_score.resize(std::size_t(k));
        CHECK(got_cell == want_cell);
        CHECK(got_score == want_score);
      }
    }
  }
}
