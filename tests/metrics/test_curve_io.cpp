// curve_io.hpp: the log-spaced FAR grid, at-most resampling of a ROC curve (against tar_at_far's
// at-most rule) and the ROC CSV writer.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "unitsface/metrics.hpp"
#include "unitsface/metrics/curve_io.hpp"

namespace um = unitsface::metrics;
using unitsface::index_t;
using unitsface::vector_view;

namespace {

/// Seeded scores with many ties (rounded to `step`), genuine scores higher on average.
void make_set(std::uint64_t seed, int n_gen, int n_imp, double step, std::vector<double>& s,
              std::vector<int>& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.5, 0.25), im(0.0, 0.25);
  for (int i = 0; i < n_gen + n_imp; ++i) {
    const bool gen = i < n_gen;
    double v = gen ? g(rng) : im(rng);
    if (step > 0) v = std::round(v / step) * step;
    s.push_back(v);
    y.push_back(gen ? 1 : 0);
  }
}

}  // namespace

TEST_CASE("log_far_grid: exact decades, per-decade points, bounds", "[curve_io]") {
  const auto g = um::log_far_grid(1e-6, 1.0, 1);
  REQUIRE(g == std::vector<double>{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0});
  const auto h = um::log_far_grid(1e-3, 1e-1, 4);
  REQUIRE(h.size() == 9);
  CHECK(h.front() == 1e-3);
  CHECK(h[4] == 1e-2);
  CHECK(h.back() == 1e-1);
  for (std::size_t i = 1; i < h.size(); ++i) {
    CHECK(std::log10(h[i]) - std::log10(h[i - 1]) == Approx(0.25).margin(1e-12));
  }
  // Bounds between grid points: only the points inside.
  const auto k = um::log_far_grid(2e-3, 5e-2, 1);
  CHECK(k == std::vector<double>{1e-2});
  CHECK_THROWS_AS(um::log_far_grid(0.0, 1.0, 10), unitsface::invalid_argument);
  CHECK_THROWS_AS(um::log_far_grid(1e-2, 1e-3, 10), unitsface::invalid_argument);
  CHECK_THROWS_AS(um::log_far_grid(1e-3, 2.0, 10), unitsface::invalid_argument);
  CHECK_THROWS_AS(um::log_far_grid(1e-3, 1.0, 0), unitsface::invalid_argument);
}

TEST_CASE("resample_roc: the at-most operating point of tar_at_far at every grid FAR",
          "[curve_io]") {
  for (double step : {0.0, 0.05, 0.2}) {
    std::vector<double> s;
    std::vector<int> y;
    make_set(7 + std::uint64_t(step * 100), 300, 2000, step, s, y);
    const vector_view<const double> sv(s.data(), index_t(s.size()));
    const vector_view<const int> yv(y.data(), index_t(y.size()));
    const um::sorted_scores<double> sorted(sv, yv);
    const auto curve = um::compute_roc(sorted, /*drop_intermediate=*/false);
    // Grid points between the curve's FARs, on them (k / 2000) and below the first one.
    auto grid = um::log_far_grid(1e-5, 1.0, 20);
    for (int k : {1, 2, 3, 10, 1000, 2000}) grid.push_back(double(k) / 2000.0);
    const auto got = um::resample_roc(curve, grid);
    const auto want = um::tar_at_far(sorted, grid, um::far_rule::at_most);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("step " << step << ", FAR " << grid[i]);
      CHECK(got[i].target == want[i].target);
      CHECK(got[i].tar == want[i].tar);
      CHECK(got[i].threshold == want[i].threshold);
      CHECK(got[i].far == want[i].far);
      CHECK(got[i].far <= grid[i]);
    }
  }
}

TEST_CASE("resample_roc: a hand-made curve, and bad input", "[curve_io]") {
  // Scores 0.9 g, 0.8 i, 0.7 g, 0.6 i: points (0,0,inf) (0,.5,.9) (.5,.5,.8) (.5,1,.7) (1,1,.6).
  const std::vector<double> s{0.9, 0.8, 0.7, 0.6};
  const std::vector<int> y{1, 0, 1, 0};
  const auto curve =
      um::compute_roc(vector_view<const double>(s.data(), 4), vector_view<const int>(y.data(), 4));
  const auto r = um::resample_roc(curve, {0.1, 0.5, 1.0});
  CHECK(r[0].tar == 0.5);
  CHECK(r[0].threshold == 0.9);
  CHECK(r[0].far == 0.0);
  CHECK(r[1].tar == 1.0);
  CHECK(r[1].threshold == 0.7);
  CHECK(r[1].far == 0.5);
  CHECK(r[2].tar == 1.0);
  CHECK(r[2].threshold == 0.7);  // the highest threshold reaching TAR 1, not the last point
  CHECK_THROWS_AS(um::resample_roc(um::roc_curve{}, {0.1}), unitsface::invalid_argument);
  CHECK_THROWS_AS(um::resample_roc(curve, {0.0}), unitsface::invalid_argument);
  CHECK_THROWS_AS(um::resample_roc(curve, {}), unitsface::invalid_argument);
}

TEST_CASE("write_roc_csv: header, inf threshold, round-trip digits", "[curve_io]") {
  um::roc_curve c;
  c.fpr = {0.0, 0.0, 1.0 / 3.0, 1.0};
  c.tpr = {0.0, 0.1, 0.1, 1.0};
  c.thresholds = {INFINITY, 0.7, -0.25, -1e-300};
  std::ostringstream out;
  um::write_roc_csv(out, c);
  std::istringstream in(out.str());
  std::string line;
  std::getline(in, line);
  CHECK(line == "threshold,far,tar");
  std::getline(in, line);
  CHECK(line == "inf,0,0");
  for (std::size_t i = 1; i < c.size(); ++i) {
    REQUIRE(std::getline(in, line));
    std::istringstream fields(line);
    std::string t, f, p;
    std::getline(fields, t, ',');
    std::getline(fields, f, ',');
    std::getline(fields, p);
    CHECK(std::stod(t) == c.thresholds[i]);
    CHECK(std::stod(f) == c.fpr[i]);
    CHECK(std::stod(p) == c.tpr[i]);
  }
  CHECK_FALSE(std::getline(in, line));
}
