// The protocols module against oracles written differently: the sort-free corner summary
// (genuine_buckets) and the histogram's exact TAR@FAR (histogram_refinement) against the metrics
// module's sorted path; identification, MegaFace and all-pairs against brute force over the whole
// similarity matrix; every result independent of the tile shape; bad input refused by name.
// Seeded data; values quantised so that ties occur. Host policy (the protocols conformance
// runner runs the vectors on every backend).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "thrown_argument.hpp"
#include "unitsface/distributed/all_pairs.hpp"
#include "unitsface/metrics.hpp"
#include "unitsface/metrics/genuine_buckets.hpp"
#include "unitsface/metrics/histogram_refinement.hpp"
#include "unitsface/protocols.hpp"

using namespace unitsface;
namespace up = unitsface::protocols;
namespace um = unitsface::metrics;

namespace {

/// Scores on a grid of 1/64 (ties within and across the classes; `tied` false: continuous),
/// genuine shifted up.
void tied_scores(std::mt19937& rng, index_t P, index_t N, std::vector<double>& s,
                 std::vector<int>& l, bool tied = true) {
  std::normal_distribution<double> z(0.0, 1.0);
  for (index_t i = 0; i < P + N; ++i) {
    const bool g = i < P;
    const double v = (z(rng) + (g ? 1.5 : 0.0)) / 4.0;
    s.push_back(tied ? std::round(v * 64.0) / 64.0 : v);
    l.push_back(g ? 1 : 0);
  }
}

/// Identities as centres on the sphere, rows = centre + noise, random norms; every third
/// identity's first row copied under the previous identity's label (exact ties across
/// identities: a third row scores the same against the row and its copy).
struct clustered {
  index_t D;
  std::vector<double> x;
  std::vector<long long> label;
  clustered(std::mt19937& rng, index_t ids, index_t per_id, index_t D_, double noise,
            long long label_offset = 0)
      : D(D_) {
    std::normal_distribution<double> z(0.0, 1.0);
    std::uniform_real_distribution<double> norm(0.5, 3.0);
    for (index_t c = 0; c < ids; ++c) {
      const std::size_t first = x.size();  // this identity's first row
      std::vector<double> centre(static_cast<std::size_t>(D));
      for (auto& v : centre) v = z(rng);
      for (index_t r = 0; r < per_id; ++r) {
        const double n = norm(rng);
        for (index_t k = 0; k < D; ++k) x.push_back(n * (centre[std::size_t(k)] + noise * z(rng)));
        label.push_back(label_offset + c);
      }
      if (c % 3 == 2) {  // a copy of this identity's first row, labelled as identity c - 1
        for (index_t k = 0; k < D; ++k) x.push_back(x[first + std::size_t(k)]);
        label.push_back(label_offset + c - 1);
      }
    }
  }
  index_t rows() const { return index_t(label.size()); }
  matrix_view<const double> view() const { return {x.data(), rows(), D}; }
  vector_view<const long long> labels() const { return {label.data(), rows()}; }
};

/// Cosine of rows a_i and b_j computed in double by a plain loop (the oracle's own).
double cosine(const clustered& a, index_t i, const clustered& b, index_t j) {
  double d = 0, na = 0, nb = 0;
  for (index_t k = 0; k < a.D; ++k) {
    const double u = a.x[std::size_t(i * a.D + k)], v = b.x[std::size_t(j * b.D + k)];
    d += u * v;
    na += u * u;
    nb += v * v;
  }
  return d / std::sqrt(na * nb);
}

/// The ROC corners a score source visits.
template <class Src>
std::vector<um::detail::roc_point> corners(const Src& src) {
  std::vector<um::detail::roc_point> r;
  src.walk_corners([&](index_t fp, index_t tp, double t) { r.push_back({fp, tp, t}); });
  return r;
}

/// The same corners, point by point.
void check_same_corners(const std::vector<um::detail::roc_point>& got,
                        const std::vector<um::detail::roc_point>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    CHECK(got[k].fp == want[k].fp);
    CHECK(got[k].tp == want[k].tp);
    CHECK(got[k].threshold == want[k].threshold);
  }
}

/// TAR, threshold and FAR equal, target by target.
void check_same_rates(const std::vector<um::tar_at_far_result>& got,
                      const std::vector<um::tar_at_far_result>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    CHECK(got[k].tar == want[k].tar);
    CHECK(got[k].threshold == want[k].threshold);
    CHECK(got[k].far == want[k].far);
  }
}

/// Tile shapes, and rows shared out among 1 to 5 threads (0: OpenMP's default): results must
/// be the same bits for all.
const std::vector<up::tile_options> tile_shapes{
    {1, 1},
    {3, 5},
    {7, 64},
    {512, 8192},
    {.tile_rows = 3, .tile_cols = 5, .threads = 3},
    {.tile_rows = 7, .tile_cols = 64, .threads = 2},
    {.tile_rows = 512, .tile_cols = 8192, .threads = 5},
    {.tile_rows = 512, .tile_cols = 8192, .threads = 1}};

/// Every pair of an all-pairs set, one share: f(genuine, score).
template <class T, class F>
void each_pair(const up::detail::labelled_rows<T, host_policy>& rows, const up::tile_options& t,
               F f) {
  std::vector<char> one(1);
  rows.for_each_pair(
      host_policy{}, t, one,
      [&](char&, const T* s, index_t n) {
        for (index_t c = 0; c < n; ++c) f(false, static_cast<double>(s[c]));
      },
      [&](char&, double s) { f(true, s); });
}

}  // namespace

// The cell counts of genuine_buckets, which no public function shows.
struct unitsface::metrics::detail::genuine_buckets_test_access {
  static void set_cell_count_limit(genuine_buckets& b, index_t limit) {
    b.cell_count_limit_ = limit;
  }
  static index_t largest_cell_count(const genuine_buckets& b) {
    index_t most = 0;
    for (const auto& c : b.cells_float_) most = std::max(most, index_t(c.count));
    for (const auto& c : b.cells_double_) most = std::max(most, index_t(c.count));
    return most;
  }
};

TEST_CASE("genuine_buckets: the corners and summary of the sorted path, without sorting impostors",
          "[protocols][buckets]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> s;
    std::vector<int> l;
    tied_scores(rng, 5 + trial * 7, 300 + trial * 50, s, l, trial % 2 == 0);
    const vector_view<const double> sv(s.data(), index_t(s.size()));
    const vector_view<const int> lv(l.data(), index_t(l.size()));
    const um::sorted_scores<double> sorted(sv, lv);
    std::vector<double> genuine;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (l[i] == 1) genuine.push_back(s[i]);
    um::genuine_buckets whole(genuine), half_a(genuine), half_b(genuine);
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (l[i] == 1) continue;
      whole.add_impostor(s[i]);
      (i % 2 ? half_a : half_b).add_impostor(s[i]);
    }
    half_a.merge(half_b);
    const auto want = corners(sorted);
    check_same_corners(corners(whole), want);
    check_same_corners(corners(half_a), want);
    const auto full = um::summarize_verification(sv, lv);
    const auto corners = um::summarize_corners(whole);
    CHECK(corners.auc == full.auc);
    CHECK(corners.eer.eer == full.eer.eer);
    check_same_rates(corners.at_most, full.at_most);
  }
}

TEST_CASE("genuine_buckets: float scores against genuine values that are no floats",
          "[protocols][buckets]") {
  // Cells of float scores are computed in float only where the highest genuine value is a
  // float (float_cells): here it is not, and rounding it to a float would shift every score
  // by about 8 cells, into the buckets of genuine values 2 places away. 201 genuine values
  // between 1 - 1e-6 and 1 + 1e-8 (as doubles), every float from 1 - 2e-6 to 1 + 2e-7 as an
  // impostor, and some far off; the corners must be the sorted path's.
  std::vector<double> genuine;
  for (int i = 0; i <= 200; ++i) genuine.push_back(1.0 + 1e-8 - i * (1e-6 + 1e-8) / 200.0);
  std::vector<float> impostors{-1.0f, 0.5f, 2.0f};
  for (float f = 1.0f - 2e-6f; f <= 1.0f + 2e-7f; f = std::nextafter(f, 2.0f))
    impostors.push_back(f);
  std::vector<double> all(genuine);
  std::vector<int> labels(genuine.size(), 1);
  for (float f : impostors) {
    all.push_back(double(f));
    labels.push_back(0);
  }
  const um::sorted_scores<double> sorted(
      vector_view<const double>(all.data(), index_t(all.size())),
      vector_view<const int>(labels.data(), index_t(labels.size())));
  um::genuine_buckets b(genuine);
  b.add_impostors(vector_view<const float>(impostors.data(), index_t(impostors.size())));
  check_same_corners(corners(b), corners(sorted));
}

TEST_CASE("genuine_buckets: cells computed in float on a fine grid", "[protocols][buckets]") {
  // 100,000 genuine floats: 200,000 cells, where float's roundings of a score's cell reach a
  // twentieth of a cell (grid_slack must cover them). Impostors on every genuine value and one
  // float either side of it, where a cell edge between a score and its neighbouring value is
  // crossed by the rounding; the corners must be the sorted path's.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> s;
  std::vector<int> l;
  for (int i = 0; i < 100000; ++i) {
    const float g = u(rng);
    for (float v : {g, g, std::nextafter(g, 2.0f), std::nextafter(g, -2.0f)}) s.push_back(v);
    for (int label : {1, 0, 0, 0}) l.push_back(label);
  }
  const vector_view<const float> sv(s.data(), index_t(s.size()));
  const vector_view<const int> lv(l.data(), index_t(l.size()));
  check_same_corners(corners(um::genuine_buckets::from_scores(sv, lv)),
                     corners(um::sorted_scores<float>(sv, lv)));
}

TEMPLATE_TEST_CASE("genuine_buckets: scores on and around the grid's cells, from_scores",
                   "[protocols][buckets]", float, double) {
  // The grid counts most impostors per cell, without a search; these scores sit where that
  // could go wrong: on every genuine value, one ulp either side of it, on the cell edges, above
  // the highest and just below the lowest genuine value, and far outside. Each set's corners
  // must equal the sorted path's (which sorts everything), whole and through from_scores.
  using T = TestType;
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const std::vector<std::vector<double>> genuine_sets{
      {0.5},                  // one distinct value: no grid
      {0.25, 0.25, 0.25},     // likewise, tied
      {0.1, 0.1 + 1e-12},     // a narrow span: cells far below a float's ulp
      {-0.3, 0.2, 0.2, 0.7},  // ties and a gap
      {0.0, 1e-300, 2e-300},  // a span too narrow for a finite grid scale
  };
  std::vector<std::vector<double>> sets = genuine_sets;
  for (int n : {7, 60, 400}) {  // continuous genuine scores
    std::vector<double> g;
    for (int i = 0; i < n; ++i) g.push_back(T(0.5 * u(rng) + 0.3));
    sets.push_back(g);
  }
  for (const auto& gen : sets) {
    std::vector<T> s;
    std::vector<int> l;
    for (double g : gen) {
      s.push_back(T(g));
      l.push_back(1);
    }
    std::vector<double> gt(s.begin(), s.end());  // the genuine scores as T holds them
    const double lo = *std::min_element(gt.begin(), gt.end());
    const double hi = *std::max_element(gt.begin(), gt.end());
    auto impostor = [&](double v) {
      s.push_back(T(v));
      l.push_back(0);
    };
    for (double g : gt) {
      impostor(g);
      impostor(std::nextafter(T(g), T(2)));
      impostor(std::nextafter(T(g), T(-2)));
    }
    // genuine_buckets' grid: 2 cells per distinct genuine value.
    std::vector<double> distinct(gt);
    std::sort(distinct.begin(), distinct.end());
    const int cells = 2 * int(std::unique(distinct.begin(), distinct.end()) - distinct.begin());
    const double width = hi > lo ? (hi - lo) / double(cells) : 0.0;
    for (int b = -3; b <= cells + 3; ++b) {  // the cell edges and mid-cells
      impostor(hi - b * width);
      impostor(hi - (b + 0.5) * width);
    }
    for (double v : {hi + 1e-9, lo - 1e-9, lo - 1.0, hi + 1.0, 1e30, -1e30, 0.0, -0.0}) impostor(v);
    for (int i = 0; i < 500; ++i) impostor(u(rng));
    const vector_view<const T> sv(s.data(), index_t(s.size()));
    const vector_view<const int> lv(l.data(), index_t(l.size()));
    const um::sorted_scores<T> sorted(sv, lv);
    um::genuine_buckets one(gt);
    for (std::size_t i = 0; i < s.size(); ++i)
      if (l[i] == 0) one.add_impostor(double(s[i]));
    const auto batch = um::genuine_buckets::from_scores(sv, lv);
    // add_impostors over the impostors in runs of 1, 37 and 300 scores (blocks of 256 cut).
    std::vector<T> imp;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (l[i] == 0) imp.push_back(s[i]);
    std::vector<um::genuine_buckets> runs;
    for (index_t run : {1, 37, 300}) {
      um::genuine_buckets b(gt);
      for (index_t i0 = 0; i0 < index_t(imp.size()); i0 += run)
        b.add_impostors(
            vector_view<const T>(imp.data() + i0, std::min(run, index_t(imp.size()) - i0)));
      runs.push_back(std::move(b));
    }
    // One set counting through both cell tables (float scores have their own): every other
    // impostor one at a time (as a double), the rest as a stream of T; then merged into an
    // empty set.
    um::genuine_buckets mixed(gt), merged(gt);
    std::vector<T> odd;
    for (std::size_t i = 0; i < imp.size(); ++i) {
      if (i % 2 == 0) {
        mixed.add_impostor(double(imp[i]));
      } else {
        odd.push_back(imp[i]);
      }
    }
    mixed.add_impostors(vector_view<const T>(odd.data(), index_t(odd.size())));
    merged.merge(mixed);
    INFO("genuine values: " << gt.size() << ", lowest " << lo << ", highest " << hi);
    const auto want = corners(sorted);
    check_same_corners(corners(one), want);
    check_same_corners(corners(batch), want);
    for (const auto& b : runs) check_same_corners(corners(b), want);
    check_same_corners(corners(mixed), want);
    check_same_corners(corners(merged), want);
    CHECK(batch.impostor_count() == sorted.impostor_count());
    CHECK(batch.genuine_count() == sorted.genuine_count());
  }
  // from_scores refuses by name: labels of another length or value, NaN/Inf, one class only.
  std::vector<T> s{T(0.1), T(0.5), T(0.2)};
  std::vector<int> l{0, 1, 0};
  const vector_view<const T> sv(s.data(), 3);
  auto from = [&](std::vector<int> labels) {
    return unitsface::test::thrown_argument([&] {
      um::genuine_buckets::from_scores(
          sv, vector_view<const int>(labels.data(), index_t(labels.size())));
    });
  };
  CHECK(from({0, 1}) == "labels");
  CHECK(from({0, 2, 0}) == "labels");
  CHECK(from({0, 0, 0}) == "scores");
  CHECK(from({1, 1, 1}) == "scores");
  s[0] = std::numeric_limits<T>::quiet_NaN();
  CHECK(from({0, 1, 0}) == "scores");
  s[0] = T(0.1);
  s[1] = std::numeric_limits<T>::infinity();
  CHECK(from({0, 1, 0}) == "scores");
  // add_impostors refuses NaN/Inf by name before counting anything of the block.
  um::genuine_buckets b(std::vector<double>{0.3, 0.6});
  b.add_impostor(0.1);
  CHECK(unitsface::test::thrown_argument([&] { b.add_impostors(sv); }) == "scores");
  CHECK(b.impostor_count() == 1);
}

TEST_CASE("genuine_buckets: cell counts moved to their buckets before they reach their limit",
          "[protocols][buckets]") {
  // The cells count in 32 bits and are moved to their buckets before any count could pass
  // 2^31 - 1 scores. Reaching that here would take minutes (the tests are built at -O0), so
  // the limit is lowered to 1,000 scores: no cell may hold more, and the corners must still
  // be the sorted path's, through either cell table (float scores streamed, double ones one at
  // a time).
  std::mt19937 rng(17);
  std::vector<double> tied;
  std::vector<int> l;
  tied_scores(rng, 40, 20000, tied, l, true);  // multiples of 1/64: floats
  std::vector<float> s(tied.begin(), tied.end());
  std::vector<double> genuine;
  std::vector<float> imp;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (l[i] == 1) {
      genuine.push_back(double(s[i]));
    } else {
      imp.push_back(s[i]);
    }
  }
  // Many impostors in three cells: below every genuine value (counted in the vectorised
  // pass), on the lowest one (searched) and above the highest (counted one by one).
  const float lowest = float(*std::min_element(genuine.begin(), genuine.end()));
  const float highest = float(*std::max_element(genuine.begin(), genuine.end()));
  for (int i = 0; i < 3000; ++i) {
    for (float v : {lowest - 1.0f, lowest, highest + 1.0f}) {
      s.push_back(v);
      l.push_back(0);
      imp.push_back(v);
    }
  }
  using access = um::detail::genuine_buckets_test_access;
  constexpr index_t limit = 1000;
  um::genuine_buckets b(genuine), other(genuine);
  access::set_cell_count_limit(b, limit);
  access::set_cell_count_limit(other, limit);
  for (std::size_t i0 = 0; i0 < imp.size(); i0 += 700) {
    const index_t m = std::min(index_t(700), index_t(imp.size() - i0));
    b.add_impostors(vector_view<const float>(imp.data() + i0, m));  // the float cells
    for (index_t j = 0; j < m; j += 3) other.add_impostor(double(imp[i0 + std::size_t(j)]));
    CHECK(access::largest_cell_count(b) <= limit);
    CHECK(access::largest_cell_count(other) <= limit);
  }
  const vector_view<const float> sv(s.data(), index_t(s.size()));
  const vector_view<const int> lv(l.data(), index_t(l.size()));
  check_same_corners(corners(b), corners(um::sorted_scores<float>(sv, lv)));
  // other: every third impostor of each run of 700, one at a time as doubles (the double
  // cells).
  std::vector<double> s2(genuine);
  std::vector<int> l2(genuine.size(), 1);
  for (std::size_t i0 = 0; i0 < imp.size(); i0 += 700)
    for (std::size_t j = i0; j < std::min(i0 + 700, imp.size()); j += 3) {
      s2.push_back(double(imp[j]));
      l2.push_back(0);
    }
  check_same_corners(corners(other), corners(um::sorted_scores<double>(
                                         vector_view<const double>(s2.data(), index_t(s2.size())),
                                         vector_view<const int>(l2.data(), index_t(l2.size())))));
}

TEST_CASE("histogram_refinement: exact at-most TAR@FAR from a histogram and two bins per target",
          "[protocols][histogram]") {
  std::mt19937 rng(13);
  const std::vector<double> targets{1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5, 1.0};
  for (int trial = 0; trial < 24; ++trial) {
    std::vector<double> s;
    std::vector<int> l;
    tied_scores(rng, 30 + 5 * trial, 3000, s, l, trial % 2 == 0);
    for (auto& x : s) x = std::clamp(x, -1.0, 1.0);
    const index_t bins = std::vector<index_t>{4, 64, 65536}[std::size_t(trial) % 3];
    um::score_histogram h(bins, -1.0, 1.0);
    for (std::size_t i = 0; i < s.size(); ++i) h.add(s[i], l[i] == 1);
    um::histogram_refinement refine(h, targets);
    for (std::size_t i = 0; i < s.size(); ++i) refine.add(s[i], l[i] == 1);
    const auto got = refine.results();
    um::verification_options opt;
    opt.far_targets = targets;
    const auto want =
        um::summarize_verification(vector_view<const double>(s.data(), index_t(s.size())),
                                   vector_view<const int>(l.data(), index_t(l.size())), opt)
            .at_most;
    check_same_rates(got, want);
  }
  // A second pass that gives other scores than the first is refused.
  um::score_histogram h(4, -1.0, 1.0);
  h.add(0.9, true);
  h.add(0.1, false);
  h.add(0.2, false);
  um::histogram_refinement refine(h, {0.5});
  refine.add(0.9, true);
  CHECK_THROWS_AS(refine.results(), invalid_argument);
}

TEMPLATE_TEST_CASE("identification_1toN: brute force over the whole matrix, any tile shape",
                   "[protocols][identification]", float, double) {
  std::mt19937 rng(3);
  const clustered gallery(rng, 12, 2, 8, 0.6);
  const clustered probes(rng, 18, 2, 8, 0.6);  // identities 12..17 are not in the gallery
  // Oracle: identity scores by a map, rank by counting, in double from the plain cosine (in
  // float the scores differ by rounding, so only the double run is compared with it).
  const index_t Q = probes.rows(), K = 10;
  std::vector<index_t> rank(std::size_t(Q), 0);
  std::vector<double> nonmated_top, truth_score(std::size_t(Q), -INFINITY);
  index_t mated = 0;
  for (index_t i = 0; i < Q; ++i) {
    std::map<long long, double> id_score;
    double top = -INFINITY;
    for (index_t j = 0; j < gallery.rows(); ++j) {
      const double s = cosine(probes, i, gallery, j);
      auto [it, fresh] = id_score.emplace(gallery.label[std::size_t(j)], s);
      if (!fresh) it->second = std::max(it->second, s);
      top = std::max(top, s);
    }
    const auto truth = id_score.find(probes.label[std::size_t(i)]);
    if (truth == id_score.end()) {
      nonmated_top.push_back(top);
      continue;
    }
    ++mated;
    index_t r = 1;
    for (const auto& [id, s] : id_score) r += id != truth->first && s >= truth->second;
    rank[std::size_t(i)] = r;
    truth_score[std::size_t(i)] = truth->second;
  }
  // TPIR@FPIR by the vectors' rule, by trying every non-mated top score as the threshold.
  const std::vector<double> fpir_targets{0.05, 0.2, 0.5};
  std::vector<up::tpir_at_fpir_point> want_tpir;
  for (double f : fpir_targets) {
    up::tpir_at_fpir_point w;
    w.target = f;
    for (double v : nonmated_top) {
      const auto n =
          std::count_if(nonmated_top.begin(), nonmated_top.end(), [&](double x) { return x >= v; });
      const double fpir = double(n) / double(nonmated_top.size());
      if (fpir <= f && v < w.threshold) {
        w.threshold = v;
        w.fpir = fpir;
      }
    }
    index_t hits = 0;
    for (index_t i = 0; i < Q; ++i)
      hits += rank[std::size_t(i)] == 1 && truth_score[std::size_t(i)] >= w.threshold;
    w.tpir = double(hits) / double(mated);
    want_tpir.push_back(w);
  }
  up::open_set_result first;
  for (const auto& tiles : tile_shapes) {
    up::open_set_options o;
    o.max_rank = K;
    o.fpir_targets = fpir_targets;
    o.tiles = tiles;
    const auto r = up::identification_1toN<TestType>(
        host_policy{}, gallery.view(), gallery.labels(), probes.view(), probes.labels(), o);
    CHECK(r.mated == mated);
    CHECK(r.nonmated == Q - mated);
    if (std::is_same_v<TestType, double>) {
      for (index_t i = 0; i < Q; ++i)
        CHECK(r.outcomes[std::size_t(i)].rank == std::min(rank[std::size_t(i)], K + 1));
      REQUIRE(r.tpir_at_fpir.size() == want_tpir.size());
      for (std::size_t k = 0; k < want_tpir.size(); ++k) {
        CHECK(r.tpir_at_fpir[k].tpir == want_tpir[k].tpir);
        CHECK(r.tpir_at_fpir[k].fpir == want_tpir[k].fpir);
        CHECK(r.tpir_at_fpir[k].threshold == Approx(want_tpir[k].threshold).margin(1e-12));
      }
    }
    if (first.cmc.empty()) {
      first = r;
    } else {  // bit-identical across tile shapes
      for (std::size_t i = 0; i < r.outcomes.size(); ++i) {
        CHECK(r.outcomes[i].rank == first.outcomes[i].rank);
        CHECK(r.outcomes[i].top_score == first.outcomes[i].top_score);
      }
      CHECK(r.cmc == first.cmc);
      CHECK(r.true_score == first.true_score);
    }
  }
  // Rows in T are read in place and the tiles scaled by their inverse norms; rows whose norms
  // leave [1e-8, 1e8] are normalised into a copy instead (a product of raw rows could over- or
  // underflow). Both give the same ranks (in double: the same ties, other scores within
  // rounding).
  if (std::is_same_v<TestType, double>) {
    clustered big = gallery;
    for (double& v : big.x) v *= 1e10;
    up::open_set_options o;
    o.fpir_targets = fpir_targets;
    const auto r = up::identification_1toN<TestType>(host_policy{}, big.view(), big.labels(),
                                                     probes.view(), probes.labels(), o);
    for (std::size_t i = 0; i < r.outcomes.size(); ++i) {
      CHECK(r.outcomes[i].rank == first.outcomes[i].rank);
      CHECK(r.outcomes[i].top_score == Approx(first.outcomes[i].top_score).margin(1e-14));
    }
    CHECK(r.cmc == first.cmc);
  }
  // In float, rows of norm 1e20 would overflow a product read in place (1e40): they are
  // copied normalised, and rank as the same rows of moderate norm read in place.
  if (std::is_same_v<TestType, float>) {
    const auto as_float = [](const clustered& c, double scale) {
      std::vector<float> f;
      for (double v : c.x) f.push_back(float(v * scale));
      return f;
    };
    up::open_set_options o;
    o.fpir_targets = fpir_targets;
    std::vector<up::open_set_result> r;
    for (double scale : {1.0, 1e20}) {
      const auto g = as_float(gallery, scale), p = as_float(probes, scale);
      r.push_back(up::identification_1toN<float>(
          host_policy{}, matrix_view<const float>(g.data(), gallery.rows(), gallery.D),
          gallery.labels(), matrix_view<const float>(p.data(), probes.rows(), probes.D),
          probes.labels(), o));
    }
    for (std::size_t i = 0; i < r[0].outcomes.size(); ++i) {
      CHECK(r[1].outcomes[i].rank == r[0].outcomes[i].rank);
      CHECK(r[1].outcomes[i].top_score == Approx(r[0].outcomes[i].top_score).margin(1e-6));
    }
  }
}

TEMPLATE_TEST_CASE("megaface_single_mate and all_pairs: brute force, any tile shape",
                   "[protocols][megaface][all_pairs]", float, double) {
  std::mt19937 rng(5);
  const clustered probes(rng, 6, 3, 8, 0.5);
  const clustered distractors(rng, 150, 1, 8, 0.0, 100);
  const std::vector<double> targets{0.01, 0.1};
  // MegaFace oracle: ranks by counting distractors; verification by the sorted metrics path.
  index_t pairs = 0, rank1 = 0;
  std::vector<index_t> at_rank(12, 0);
  std::vector<double> scores;
  std::vector<int> labels;
  for (index_t p = 0; p < probes.rows(); ++p) {
    for (index_t d = 0; d < distractors.rows(); ++d) {
      scores.push_back(cosine(probes, p, distractors, d));
      labels.push_back(0);
    }
    for (index_t q = 0; q < probes.rows(); ++q) {
      if (q == p || probes.label[std::size_t(q)] != probes.label[std::size_t(p)]) continue;
      const double s = cosine(probes, p, probes, q);
      index_t r = 1;
      for (index_t d = 0; d < distractors.rows(); ++d) r += cosine(probes, p, distractors, d) >= s;
      ++pairs;
      rank1 += r == 1;
      ++at_rank[std::size_t(std::min<index_t>(r, 11))];
      if (p < q) {
        scores.push_back(s);
        labels.push_back(1);
      }
    }
  }
  um::verification_options vo;
  vo.far_targets = targets;
  const auto want =
      um::summarize_verification(vector_view<const double>(scores.data(), index_t(scores.size())),
                                 vector_view<const int>(labels.data(), index_t(labels.size())), vo);
  // All-pairs oracle: every pair of the probes, sorted path.
  std::vector<double> ap;
  std::vector<int> apl;
  for (index_t i = 0; i < probes.rows(); ++i)
    for (index_t j = i + 1; j < probes.rows(); ++j) {
      ap.push_back(cosine(probes, i, probes, j));
      apl.push_back(probes.label[std::size_t(i)] == probes.label[std::size_t(j)]);
    }
  const auto want_ap =
      um::summarize_verification(vector_view<const double>(ap.data(), index_t(ap.size())),
                                 vector_view<const int>(apl.data(), index_t(apl.size())), vo);
  std::vector<double> first_cmc;
  double first_auc = -1;
  for (const auto& tiles : tile_shapes) {
    up::megaface_options o;
    o.far_targets = targets;
    o.tiles = tiles;
    const auto r = up::megaface_single_mate<TestType>(host_policy{}, probes.view(), probes.labels(),
                                                      distractors.view(), o);
    CHECK(r.probe_mate_pairs == pairs);
    CHECK(r.verification.genuine == pairs / 2);
    CHECK(r.verification.impostor == probes.rows() * distractors.rows());
    up::all_pairs_options ao;
    ao.far_targets = targets;
    ao.tiles = tiles;
    const auto a = up::all_pairs<TestType>(host_policy{}, probes.view(), probes.labels(), ao);
    CHECK(a.genuine + a.impostor == index_t(ap.size()));
    if (std::is_same_v<TestType, double>) {
      CHECK(r.rank1 == double(rank1) / double(pairs));
      index_t found = 0;
      for (index_t k = 1; k <= 10; ++k) {
        found += at_rank[std::size_t(k)];
        CHECK(r.cmc[std::size_t(k - 1)] == double(found) / double(pairs));
      }
      for (std::size_t k = 0; k < targets.size(); ++k) {
        CHECK(r.verification.at_most[k].tar == want.at_most[k].tar);
        CHECK(r.verification.at_most[k].far == want.at_most[k].far);
        CHECK(r.verification.at_most[k].threshold ==
              Approx(want.at_most[k].threshold).margin(1e-12));
        CHECK(a.at_most[k].tar == want_ap.at_most[k].tar);
        CHECK(a.at_most[k].far == want_ap.at_most[k].far);
      }
      CHECK(r.verification.auc == Approx(want.auc).margin(1e-12));
      CHECK(a.auc == Approx(want_ap.auc).margin(1e-12));
      CHECK(a.eer.eer == Approx(want_ap.eer.eer).margin(1e-12));
      // Through a histogram: TAR@FAR still exact, AUC and EER within its bins.
      const auto hg = up::all_pairs_histogram<TestType>(host_policy{}, probes.view(),
                                                        probes.labels(), ao, 4096);
      for (std::size_t k = 0; k < targets.size(); ++k) {
        CHECK(hg.at_most[k].tar == want_ap.at_most[k].tar);
        CHECK(hg.at_most[k].far == want_ap.at_most[k].far);
        CHECK(hg.at_most[k].threshold == a.at_most[k].threshold);  // the same scores
      }
      CHECK(hg.auc == Approx(want_ap.auc).margin(2e-3));
      CHECK(hg.histogram.genuine_total() == a.genuine);
    }
    if (first_cmc.empty()) {
      first_cmc = r.cmc;
      first_auc = a.auc;
    } else {
      CHECK(r.cmc == first_cmc);
      CHECK(a.auc == first_auc);
    }
  }
}

TEST_CASE("ijbc_1to1: template pooling by media, pair scores on the policy", "[protocols][ijbc]") {
  // Rows (1,0,0), (2,3,0), (0,0,5), (0,0,1). Template 7: media 1 = rows 0 and 2 (their mean),
  // media 2 = row 3; template 4: row 1 alone (its media id 1 is another template's media).
  const std::vector<double> f{1, 0, 0, 2, 3, 0, 0, 0, 5, 0, 0, 1};
  const std::vector<long long> t{7, 4, 7, 7}, m{1, 1, 1, 2}, a{7, 4}, b{4, 7};
  const std::vector<int> lab{1, 0};
  const auto r = up::ijbc_1to1<double>(
      host_policy{}, matrix_view<const double>(f.data(), 4, 3),
      vector_view<const long long>(t.data(), 4), vector_view<const long long>(m.data(), 4),
      vector_view<const long long>(a.data(), 2), vector_view<const long long>(b.data(), 2),
      vector_view<const int>(lab.data(), 2));
  REQUIRE(r.pooled.ids == std::vector<long long>{4, 7});
  // Template 7: mean(row 0, row 2) + row 3 = (0.5, 0, 2.5) + (0, 0, 1) = (0.5, 0, 3.5).
  const double n4 = std::sqrt(13.0), n7 = std::sqrt(12.5);
  const std::vector<double> want{2 / n4, 3 / n4, 0, 0.5 / n7, 0, 3.5 / n7};
  REQUIRE(r.pooled.features.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k)
    CHECK(r.pooled.features[k] == Approx(want[k]).margin(1e-15));
  REQUIRE(r.scores.size() == 2);
  CHECK(r.scores[0] == r.scores[1]);
  CHECK(r.scores[0] == Approx(1.0 / (n4 * n7)).epsilon(1e-14));
}

TEST_CASE("protocols: bad input is refused, naming the argument", "[protocols][bad_input]") {
  const std::vector<double> x{1, 0, 0, 1, 1, 1, 0.5, 0.5};
  const std::vector<long long> two{0, 1}, four{0, 0, 1, 1}, neg{0, -1, 1, 1};
  const matrix_view<const double> g(x.data(), 4, 2), p(x.data(), 2, 2);
  const host_policy pol;
  const auto L = [](const std::vector<long long>& v) {
    return vector_view<const long long>(v.data(), index_t(v.size()));
  };
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, g, L(two), p, L(two));
        }) == "gallery_labels");
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, g, L(neg), p, L(two));
        }) == "gallery_labels");
  const std::vector<long long> far_away{5, 6};
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, g, L(four), p, L(far_away));
        }) == "probe_labels");  // every probe non-mated: the CMC is undefined
  std::vector<double> bad = x;
  bad[3] = NAN;
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, matrix_view<const double>(bad.data(), 4, 2), L(four),
                                          p, L(two));
        }) == "gallery");
  std::vector<double> zero = x;
  zero[0] = zero[1] = 0;
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, g, L(four),
                                          matrix_view<const double>(zero.data(), 2, 2), L(two));
        }) == "probes");
  const std::vector<double> huge{1e200, 1e200, 1, 0, 0, 1, 1, 1};
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, matrix_view<const double>(huge.data(), 4, 2),
                                          L(four), p, L(two));
        }) == "gallery");  // its squared norm overflows
  const matrix_view<const double> p1(x.data(), 2, 1);
  CHECK(unitsface::test::thrown_argument(
            [&] { up::identification_1toN<double>(pol, g, L(four), p1, L(two)); }) == "probes");
  up::open_set_options o;
  o.fpir_targets = {0.0};
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, g, L(four), p, L(two), o);
        }) == "fpir_targets");
  o = {};
  o.tiles.tile_rows = 0;
  CHECK(unitsface::test::thrown_argument([&] {
          up::identification_1toN<double>(pol, g, L(four), p, L(two), o);
        }) == "tile_rows");
  o = {};
  o.tiles.threads = -1;
  CHECK(unitsface::test::thrown_argument(
            [&] { up::identification_1toN<double>(pol, g, L(four), p, L(two), o); }) == "threads");
  up::megaface_options mo;
  mo.far_targets = {1.5};
  CHECK(unitsface::test::thrown_argument(
            [&] { up::megaface_single_mate<double>(pol, g, L(four), p, mo); }) == "far_targets");
  CHECK(unitsface::test::thrown_argument([&] {
          up::megaface_single_mate<double>(pol, p, L(two), g);
        }) == "probe_labels");  // no identity with two images
  const std::vector<long long> distinct{0, 1, 2, 3};
  CHECK(unitsface::test::thrown_argument([&] { up::all_pairs<double>(pol, g, L(distinct)); }) ==
        "labels");  // no genuine pair
  const std::vector<long long> t{1, 1, 2, 2}, m{1, 2, 3}, pa{1, 3}, pb{2, 2};
  const std::vector<int> pl{1, 0};
  const auto V = [](const std::vector<int>& v) {
    return vector_view<const int>(v.data(), index_t(v.size()));
  };
  CHECK(unitsface::test::thrown_argument([&] {
          up::ijbc_1to1<double>(pol, g, L(t), L(m), L(pa), L(pb), V(pl));
        }) == "media_ids");
  const std::vector<long long> m4{1, 2, 3, 4};
  CHECK(unitsface::test::thrown_argument([&] {
          up::ijbc_1to1<double>(pol, g, L(t), L(m4), L(pa), L(pb), V(pl));
        }) == "pairs");  // template 3 has no row
  CHECK_THROWS_AS(um::genuine_buckets(std::vector<double>{}), invalid_argument);
  um::genuine_buckets gb(std::vector<double>{0.5});
  CHECK(unitsface::test::thrown_argument([&] { gb.add_impostor(NAN); }) == "impostor");
}

TEMPLATE_TEST_CASE("clustered_embeddings: the genuine cosine asked for, impostors near 0, seeded",
                   "[protocols][synthetic]", float, double) {
  for (double want : {0.3, 0.6, 0.9}) {
    up::synthetic_options o;
    o.identities = 30;
    o.per_identity = 8;
    o.dim = 256;
    o.genuine_cosine = want;
    o.first_label = 7;
    const auto s = up::clustered_embeddings<TestType>(o);
    REQUIRE(s.rows() == 240);
    CHECK(s.labels.front() == 7);
    CHECK(s.labels.back() == 36);
    double g = 0, i = 0;
    index_t ng = 0, ni = 0;
    for (index_t a = 0; a < s.rows(); ++a) {
      for (index_t b = a + 1; b < s.rows(); ++b) {
        double ab = 0, aa = 0, bb = 0;
        for (index_t k = 0; k < s.dim; ++k) {
          const double u = double(s.features[std::size_t(a * s.dim + k)]);
          const double v = double(s.features[std::size_t(b * s.dim + k)]);
          ab += u * v;
          aa += u * u;
          bb += v * v;
        }
        const double c = ab / std::sqrt(aa * bb);
        if (s.labels[std::size_t(a)] == s.labels[std::size_t(b)]) {
          g += c;
          ++ng;
        } else {
          i += c;
          ++ni;
        }
      }
    }
    CHECK(g / double(ng) == Approx(want).margin(0.02));
    CHECK(std::abs(i / double(ni)) < 0.02);
    const auto again = up::clustered_embeddings<TestType>(o);
    CHECK(again.features == s.features);
    o.seed = 2;
    CHECK(up::clustered_embeddings<TestType>(o).features != s.features);
  }
  up::synthetic_options bad;
  bad.genuine_cosine = 1.0;
  CHECK(unitsface::test::thrown_argument([&] { up::clustered_embeddings<TestType>(bad); }) ==
        "genuine_cosine");
  bad = {};
  bad.dim = 0;
  CHECK(unitsface::test::thrown_argument([&] { up::clustered_embeddings<TestType>(bad); }) ==
        "dim");
}

TEMPLATE_TEST_CASE("all_pairs: shares of the tile bands merge into the whole set's result",
                   "[protocols][all_pairs]", float, double) {
  using T = TestType;
  up::synthetic_options so;
  so.identities = 23;
  so.per_identity = 7;
  so.dim = 16;
  so.seed = 5;
  const auto set = up::clustered_embeddings<T>(so);
  up::all_pairs_options ao;
  ao.far_targets = {1e-3, 1e-2, 1e-1};
  ao.tiles.tile_rows = 16;  // 161 rows: 11 bands
  ao.tiles.tile_cols = 40;
  const index_t bins = 512;
  const auto whole =
      up::all_pairs_histogram<T>(host_policy{}, set.view(), set.label_view(), ao, bins);
  const up::detail::labelled_rows<T, host_policy> rows(host_policy{}, set.view(), set.label_view(),
                                                       ao);
  for (index_t parts : {1, 2, 3, 5}) {
    INFO(parts << " parts");
    // Pass 1 in parts: every pair scored once, the merged histogram the whole one's.
    um::score_histogram merged(bins, -1.0, 1.0);
    index_t pairs = 0;
    std::vector<um::score_histogram> own;
    for (index_t p = 0; p < parts; ++p) {
      up::tile_options t = ao.tiles;
      t.part = p;
      t.parts = parts;
      um::score_histogram h(bins, -1.0, 1.0);
      each_pair(rows, t, [&](bool same, double s) {
        h.add(s, same);
        ++pairs;
      });
      merged.merge(h);
    }
    CHECK(pairs == set.rows() * (set.rows() - 1) / 2);
    CHECK(merged.genuine_counts() == whole.histogram.genuine_counts());
    CHECK(merged.impostor_counts() == whole.histogram.impostor_counts());
    // Pass 2 in parts: the kept scores merged give the exact results of one pass.
    um::histogram_refinement all(merged, ao.far_targets);
    for (index_t p = parts - 1; p >= 0; --p) {  // any order
      up::tile_options t = ao.tiles;
      t.part = p;
      t.parts = parts;
      um::histogram_refinement share(merged, ao.far_targets);
      each_pair(rows, t, [&](bool same, double s) { share.add(s, same); });
      all.merge_kept(share.kept());
    }
    const auto got = all.results();
    REQUIRE(got.size() == whole.at_most.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      CHECK(got[k].tar == whole.at_most[k].tar);
      CHECK(got[k].far == whole.at_most[k].far);
      CHECK(got[k].threshold == whole.at_most[k].threshold);
    }
  }
  // Through distributed::all_pairs_histogram in one process: the same result.
  distributed::single_process<> one;
  const auto d = distributed::all_pairs_histogram<T>(one, host_policy{}, set.view(),
                                                     set.label_view(), ao, bins);
  CHECK(d.histogram.genuine_counts() == whole.histogram.genuine_counts());
  CHECK(d.auc == whole.auc);
  CHECK(d.eer.eer == whole.eer.eer);
  for (std::size_t k = 0; k < d.at_most.size(); ++k) {
    CHECK(d.at_most[k].tar == whole.at_most[k].tar);
    CHECK(d.at_most[k].threshold == whole.at_most[k].threshold);
  }
  // A part outside [0, parts), kept scores that do not fit the plan: refused by name.
  up::tile_options bad = ao.tiles;
  bad.part = 3;
  bad.parts = 3;
  CHECK(unitsface::test::thrown_argument([&] { each_pair(rows, bad, [](bool, double) {}); }) ==
        "part");
  um::histogram_refinement r(whole.histogram, ao.far_targets);
  CHECK(unitsface::test::thrown_argument([&] {
          r.merge_kept({double(bins + 7), 0, 0});
        }) == "kept");
  CHECK(unitsface::test::thrown_argument([&] { r.merge_kept({0}); }) == "kept");
}
