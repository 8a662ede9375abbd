// Streaming histogram accumulator (resolution against the exact path, merging), threshold
// spread against brute force, and the cos <-> squared L2 conversions.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "reference.hpp"
#include "unitsface/metrics.hpp"

namespace um = unitsface::metrics;
using unitsface::index_t;
using unitsface::matrix_view;
using unitsface::vector_view;

namespace {

template <class T>
vector_view<const T> view(const std::vector<T>& v) {
  return vector_view<const T>(v.data(), index_t(v.size()));
}

template <class T>
void scores(std::uint64_t seed, int n, std::vector<T>& s, std::vector<int>& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.55, 0.15), im(0.0, 0.12);
  std::bernoulli_distribution gen(0.1);
  for (int i = 0; i < n; ++i) {
    const bool p = gen(rng);
    s.push_back(T(std::clamp(p ? g(rng) : im(rng), -1.0, 0.999)));
    y.push_back(p);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("histogram metrics lie within one bin of the exact ones",
                   "[metrics][histogram][property]", float, double) {
  std::vector<TestType> s;
  std::vector<int> y;
  scores<TestType>(2024, 20000, s, y);
  const um::sorted_scores<TestType> exact(view(s), view(y));
  const double P = double(exact.genuine_count()), N = double(exact.impostor_count());
  for (index_t bins : {index_t(256), index_t(4096)}) {
    um::score_histogram h(bins);
    h.add(view(s), view(y));
    const double w = h.bin_width();
    REQUIRE(h.genuine_total() == index_t(P));
    REQUIRE(h.impostor_total() == index_t(N));
    // TAR@FAR: the TAR is the exact TAR at the first bin edge above the exact critical
    // impostor score c (an edge within (c, c + w]); FAR stays within the target; the reported
    // threshold is the highest edge of that TAR, above c.
    std::vector<double> imp;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (!y[i]) imp.push_back(double(s[i]));
    }
    std::sort(imp.begin(), imp.end(), std::greater<>());
    const std::vector<double> targets = {1e-3, 1e-2, 0.1};
    const auto ht = h.tar_at_far(targets);
    const auto et = um::tar_at_far(exact, targets);
    auto genuine_at_or_above = [&](double t) {
      double tp = 0;
      for (std::size_t i = 0; i < s.size(); ++i) tp += y[i] && double(s[i]) >= t;
      return tp;
    };
    for (std::size_t k = 0; k < targets.size(); ++k) {
      std::size_t K = 0;  // most impostors acceptable at this target
      while (K + 1 <= imp.size() && double(K + 1) / N <= targets[k]) ++K;
      const double critical = imp[K];  // the highest impostor score that must be rejected
      const double edge = h.edge(h.bin_of(critical) + 1);
      CHECK(edge > critical);
      CHECK(edge <= critical + w * (1 + 1e-9));
      CHECK(ht[k].far <= targets[k]);
      CHECK(ht[k].threshold > critical);
      CHECK(ht[k].tar == genuine_at_or_above(edge) / P);
      CHECK(ht[k].tar == genuine_at_or_above(ht[k].threshold) / P);
      CHECK(ht[k].tar <= et[k].tar);
    }
    // EER: within the largest single-bin FAR or FRR mass; AUC: within half the sum of
    // per-bin genuine x impostor shares.
    double max_mass = 0, tie_mass = 0;
    for (index_t b = 0; b < bins; ++b) {
      const double gb = double(h.genuine_counts()[b]) / P, ib = double(h.impostor_counts()[b]) / N;
      max_mass = std::max({max_mass, gb, ib});
      tie_mass += gb * ib;
    }
    CHECK(std::abs(h.eer().eer - um::equal_error_rate(exact).eer) <= max_mass + 1e-12);
    CHECK(std::abs(h.auc() - um::roc_auc(exact)) <= 0.5 * tie_mass + 1e-12);
    // The histogram ROC points are exact ROC points at the bin edges.
    const auto hr = h.roc();
    for (std::size_t i = 1; i < hr.size(); i += std::max<std::size_t>(1, hr.size() / 20)) {
      double fp = 0, tp = 0;
      for (std::size_t j = 0; j < s.size(); ++j) {
        if (double(s[j]) >= hr.thresholds[i]) (y[j] ? tp : fp) += 1;
      }
      CHECK(hr.fpr[i] == fp / N);
      CHECK(hr.tpr[i] == tp / P);
    }
  }
}

TEST_CASE("merged histograms equal one histogram over the union", "[metrics][histogram]") {
  std::vector<float> s;
  std::vector<int> y;
  scores<float>(7, 9000, s, y);
  s.push_back(1.5f);  // clamped into the last bin
  y.push_back(0);
  s.push_back(-3.0f);  // clamped into the first bin
  y.push_back(1);
  um::score_histogram all(1024), a(1024), b(1024), c(1024);
  all.add(view(s), view(y));
  const index_t n = index_t(s.size());
  a.add(vector_view<const float>(s.data(), 3000), vector_view<const int>(y.data(), 3000));
  b.add(vector_view<const float>(s.data() + 3000, 4000),
        vector_view<const int>(y.data() + 3000, 4000));
  for (index_t i = 7000; i < n; ++i) c.add(double(s[i]), y[i] == 1);
  a.merge(b);
  a.merge(c);
  CHECK(a.genuine_counts() == all.genuine_counts());
  CHECK(a.impostor_counts() == all.impostor_counts());
  CHECK(a.clamped() == 2);
  CHECK(all.clamped() == 2);
  CHECK(a.auc() == all.auc());
  CHECK(a.eer().eer == all.eer().eer);
  CHECK(a.tar_at_far({1e-3, 1e-2})[1].tar == all.tar_at_far({1e-3, 1e-2})[1].tar);
  // Counts match a direct tally.
  index_t top = 0;
  for (index_t i = 0; i < n; ++i) top += y[i] == 0 && s[i] >= 1.0f - 2.0f / 1024;
  CHECK(all.impostor_counts().back() == top);
}

TEST_CASE("bad histogram input throws invalid_argument naming the argument",
          "[metrics][errors][histogram]") {
  using ref::thrown_argument;
  CHECK(thrown_argument([] { um::score_histogram h(0); }) == "bins");
  CHECK(thrown_argument([] { um::score_histogram h(10, 1.0, 1.0); }) == "lo");
  um::score_histogram h(16), other(32);
  CHECK(thrown_argument([&] { h.add(std::nan(""), true); }) == "score");
  const std::vector<double> s = {0.1, std::nan("")};
  const std::vector<int> y = {1, 0}, bad = {1, 5};
  CHECK(thrown_argument([&] { h.add(view(s), view(y)); }) == "scores");
  const std::vector<double> ok = {0.1, 0.2};
  CHECK(thrown_argument([&] { h.add(view(ok), view(bad)); }) == "labels");
  CHECK(h.genuine_total() + h.impostor_total() == 0);  // rejected chunks leave no trace
  CHECK(thrown_argument([&] { h.merge(other); }) == "other");
  CHECK(thrown_argument([&] { h.auc(); }) == "histogram");
  h.add_genuine(0.5);
  CHECK(thrown_argument([&] { h.eer(); }) == "histogram");
  h.add_impostor(0.1);
  CHECK(thrown_argument([&] { h.tar_at_far({2.0}); }) == "far_targets");
}

namespace {

struct spread_set {
  index_t n, d;
  std::vector<double> e;
  std::vector<int> labels;
};

spread_set make_spread(std::uint64_t seed, int ids, int per_id) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  spread_set s;
  s.d = 5;
  for (int i = 0; i < ids; ++i) {
    std::vector<double> c;
    for (index_t k = 0; k < s.d; ++k) c.push_back(nd(rng));
    const int m = per_id + (i % 3);  // identities of different sizes
    for (int r = 0; r < m; ++r) {
      for (index_t k = 0; k < s.d; ++k)
        s.e.push_back(c[std::size_t(k)] + (0.5 + 0.1 * (i % 4)) * nd(rng));
      s.labels.push_back(100 - i);  // labels out of order
    }
  }
  s.e.insert(s.e.end(), {1.0, 0.0, 0.0, 0.0, 0.0});  // a single-sample identity: skipped
  s.labels.push_back(500);
  s.n = index_t(s.labels.size());
  return s;
}

/// Brute force: normalise rows, all pairs (i < j) once, each identity's pairs; thresholds at
/// every score of the identity, balanced accuracy compared as tp*N - fp*P, highest first.
std::map<int, std::pair<double, double>> ref_spread(const spread_set& s) {
  std::vector<double> u = s.e;
  for (index_t i = 0; i < s.n; ++i) {
    double nn = 0;
    for (index_t k = 0; k < s.d; ++k) nn += u[i * s.d + k] * u[i * s.d + k];
    for (index_t k = 0; k < s.d; ++k) u[i * s.d + k] /= std::sqrt(nn);
  }
  std::map<int, std::vector<std::pair<double, int>>> pairs;  // label -> (score, genuine)
  for (index_t i = 0; i < s.n; ++i) {
    for (index_t j = i + 1; j < s.n; ++j) {
      double c = 0;
      for (index_t k = 0; k < s.d; ++k) c += u[i * s.d + k] * u[j * s.d + k];
      const int li = s.labels[std::size_t(i)], lj = s.labels[std::size_t(j)];
      if (li == lj) {
        pairs[li].push_back({c, 1});
      } else {
        pairs[li].push_back({c, 0});
        pairs[lj].push_back({c, 0});
      }
    }
  }
  std::map<int, std::pair<double, double>> out;
  for (auto& [label, ps] : pairs) {
    double P = 0, N = 0;
    for (auto& p : ps) (p.second ? P : N) += 1;
    if (P == 0 || N == 0) continue;
    std::vector<double> cand = {ref::inf};
    for (auto& p : ps) cand.push_back(p.first);
    std::sort(cand.begin(), cand.end(), std::greater<>());
    double best = -1e300, best_t = 0;
    for (double t : cand) {
      double tp = 0, fp = 0;
      for (auto& p : ps) {
        if (p.first >= t) (p.second ? tp : fp) += 1;
      }
      if (tp * N - fp * P > best) best = tp * N - fp * P, best_t = t;
    }
    out[label] = {best_t, 0.5 * (1 + best / (P * N))};
  }
  return out;
}

}  // namespace

TEST_CASE("threshold spread matches brute-force per-identity optimal thresholds",
          "[metrics][spread]") {
  const auto s = make_spread(13, 12, 4);
  um::threshold_spread_options opt;
  opt.global_threshold = 0.3;
  const auto r =
      um::threshold_spread(matrix_view<const double>(s.e.data(), s.n, s.d), view(s.labels), opt);
  const auto want = ref_spread(s);
  REQUIRE(r.identities.size() == want.size());
  CHECK(r.skipped == 1);
  double sum = 0, mn = 1e9, mx = -1e9;
  for (const auto& t : r.identities) {
    REQUIRE(want.count(int(t.label)) == 1);
    CHECK(t.threshold == Approx(want.at(int(t.label)).first).margin(1e-12));
    CHECK(t.balanced_accuracy == Approx(want.at(int(t.label)).second).margin(1e-12));
    CHECK(t.deviation == t.threshold - 0.3);
    sum += t.threshold;
    mn = std::min(mn, t.threshold);
    mx = std::max(mx, t.threshold);
  }
  const double mean = sum / double(r.identities.size());
  double var = 0;
  for (const auto& t : r.identities) var += (t.threshold - mean) * (t.threshold - mean);
  CHECK(r.mean == Approx(mean).margin(1e-14));
  CHECK(r.std == Approx(std::sqrt(var / double(r.identities.size()))).margin(1e-14));
  CHECK(r.min == mn);
  CHECK(r.max == mx);
  // Histogram mode: thresholds at bin edges can only do as well as the exact optimum.
  opt.bins = 2048;
  const auto h =
      um::threshold_spread(matrix_view<const double>(s.e.data(), s.n, s.d), view(s.labels), opt);
  REQUIRE(h.identities.size() == r.identities.size());
  for (std::size_t i = 0; i < h.identities.size(); ++i) {
    CHECK(h.identities[i].balanced_accuracy <= r.identities[i].balanced_accuracy + 1e-12);
    CHECK(h.identities[i].balanced_accuracy >= r.identities[i].balanced_accuracy - 0.05);
  }
}

TEST_CASE("bad threshold-spread input throws invalid_argument naming the argument",
          "[metrics][errors][spread]") {
  // Identity 0 (rows (1, 0) and (1, 1)) is separable: genuine cos 0.707, impostors 0 and
  // 0.707 against the third row (0, 1).
  std::vector<double> e = {1, 0, 1, 1, 0, 1};
  const std::vector<int> l = {0, 0, 1}, l2 = {0, 0};
  using ref::thrown_argument;
  const matrix_view<const double> E(e.data(), 3, 2);
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(l2)); }) == "labels");
  um::threshold_spread_options opt;
  opt.bins = -1;
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(l), opt); }) == "bins");
  e[3] = std::nan("");
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(l)); }) == "embeddings");
  const std::vector<int> singles = {0, 1, 2};
  e[3] = 1.0;
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(singles)); }) == "labels");
  // A zero row has no direction (its cosine would be 0 / 0), in either mode.
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(l)); }) == "<no exception>");
  e[2] = -0.0;
  e[3] = 0.0;
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(l)); }) == "embeddings");
  opt.bins = 64;
  CHECK(thrown_argument([&] { um::threshold_spread(E, view(l), opt); }) == "embeddings");
}

TEMPLATE_TEST_CASE("cos <-> squared L2 distance of unit vectors", "[metrics][conversions]", float,
                   double) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (int t = 0; t < 50; ++t) {
    double a[4], b[4], na = 0, nb = 0;
    for (int k = 0; k < 4; ++k)
      a[k] = nd(rng), b[k] = nd(rng), na += a[k] * a[k], nb += b[k] * b[k];
    double cos = 0, d2 = 0;
    for (int k = 0; k < 4; ++k) {
      const double x = a[k] / std::sqrt(na), y = b[k] / std::sqrt(nb);
      cos += x * y;
      d2 += (x - y) * (x - y);
    }
    const double tol = std::is_same_v<TestType, float> ? 1e-6 : 1e-12;
    CHECK(double(um::cos_to_squared_l2(TestType(cos))) == Approx(d2).margin(tol));
    CHECK(double(um::squared_l2_to_cos(TestType(d2))) == Approx(cos).margin(tol));
  }
  static_assert(um::cos_to_squared_l2(1.0) == 0.0 && um::squared_l2_to_cos(4.0) == -1.0);
}

TEST_CASE("a score of exactly hi is in range, only scores beyond the range are clamped",
          "[metrics][histogram]") {
  um::score_histogram h(8);  // [-1, 1]
  h.add_genuine(1.0);        // a cosine of 1: the top of the range, in the last bin
  h.add_impostor(-1.0);      // the bottom: in the first bin
  CHECK(h.clamped() == 0);
  CHECK(h.genuine_counts().back() == 1);
  CHECK(h.impostor_counts().front() == 1);
  h.add_genuine(std::nextafter(1.0, 2.0));
  h.add_impostor(std::nextafter(-1.0, -2.0));
  CHECK(h.clamped() == 2);
  CHECK(h.genuine_counts().back() == 2);
  CHECK(h.impostor_counts().front() == 2);
}

TEST_CASE("a histogram saved as a blob loads back equal, and rebuilds from its counts",
          "[metrics][histogram]") {
  std::vector<double> s;
  std::vector<int> y;
  scores<double>(21, 5000, s, y);
  s.push_back(2.0);  // one clamped score travels too
  y.push_back(0);
  um::score_histogram h(512, -1.0, 1.0);
  h.add(view(s), view(y));
  std::stringstream blob;
  h.save(blob);
  CHECK(blob.str().size() == 8 + 8 * (4 + 2 * 512));
  const um::score_histogram back = um::score_histogram::load(blob);
  CHECK(back.bins() == 512);
  CHECK(back.lo() == -1.0);
  CHECK(back.hi() == 1.0);
  CHECK(back.clamped() == 1);
  CHECK(back.genuine_counts() == h.genuine_counts());
  CHECK(back.impostor_counts() == h.impostor_counts());
  CHECK(back.auc() == h.auc());
  CHECK(back.tar_at_far({1e-3})[0].tar == h.tar_at_far({1e-3})[0].tar);
  // Another process's counts merge as if counted here.
  auto again = um::score_histogram::from_counts(512, -1.0, 1.0, h.genuine_counts(),
                                                h.impostor_counts(), h.clamped());
  again.merge(back);
  for (std::size_t i = 0; i < 512; ++i) {
    CHECK(again.genuine_counts()[i] == 2 * h.genuine_counts()[i]);
  }
  CHECK(again.clamped() == 2);

  using ref::thrown_argument;
  const std::string bytes = blob.str();
  auto load = [](const std::string& b) {
    std::istringstream in(b);
    um::score_histogram::load(in);
  };
  CHECK(thrown_argument([&] { load(bytes.substr(0, bytes.size() - 3)); }) == "in");
  CHECK(thrown_argument([&] { load(bytes.substr(0, 20)); }) == "in");
  CHECK(thrown_argument([&] { load("UFHIST02" + bytes.substr(8)); }) == "in");
  CHECK(thrown_argument([&] { load(""); }) == "in");
  std::string negative = bytes;
  negative[8 + 8 * 4 + 7] = char(0x80);  // the first genuine count's sign bit
  CHECK(thrown_argument([&] { load(negative); }) == "in");
  const std::vector<index_t> short_counts(10, 0), counts(512, 0);
  CHECK(thrown_argument([&] {
          um::score_histogram::from_counts(512, -1, 1, short_counts, counts);
        }) == "genuine");
  CHECK(thrown_argument([&] {
          um::score_histogram::from_counts(512, -1, 1, counts, short_counts);
        }) == "impostor");
  std::vector<index_t> minus = counts;
  minus[3] = -1;
  CHECK(thrown_argument([&] { um::score_histogram::from_counts(512, -1, 1, counts, minus); }) ==
        "impostor");
}

TEST_CASE("threshold spread: an identity no threshold separates is listed, not averaged",
          "[metrics][spread]") {
  // Identity 0: two samples 120 degrees apart (genuine cosine -0.5), every impostor cosine
  // about 0.5: no threshold does better than chance. Identity 1: two samples 1 degree apart.
  auto at = [](double deg) {
    const double r = deg * 3.14159265358979323846 / 180.0;
    return std::vector<double>{std::cos(r), std::sin(r)};
  };
  std::vector<double> e;
  for (double deg : {0.0, 120.0, 60.0, 61.0}) {
    const auto p = at(deg);
    e.insert(e.end(), p.begin(), p.end());
  }
  const std::vector<int> labels = {0, 0, 1, 1};
  um::threshold_spread_options opt;
  opt.global_threshold = 0.5;
  const auto r = um::threshold_spread(matrix_view<const double>(e.data(), 4, 2), view(labels), opt);
  REQUIRE(r.identities.size() == 2);
  CHECK(r.inseparable == 1);
  const auto& bad = r.identities[0];
  const auto& good = r.identities[1];
  CHECK_FALSE(bad.separable);
  CHECK(std::isinf(bad.threshold));
  CHECK(std::isnan(bad.deviation));
  CHECK(bad.balanced_accuracy == 0.5);
  CHECK(good.separable);
  // Its genuine cosine (cos 1 degree) accepted, every impostor (at most cos 59 degrees) not.
  CHECK(good.threshold == Approx(std::cos(3.14159265358979323846 / 180.0)).margin(1e-12));
  CHECK(good.balanced_accuracy == 1.0);
  // The statistics describe the separable identity alone: finite.
  CHECK(r.mean == good.threshold);
  CHECK(r.std == 0.0);
  CHECK(r.min == good.threshold);
  CHECK(r.max == good.threshold);
  CHECK(r.mean_abs_deviation == Approx(std::abs(good.threshold - 0.5)).margin(1e-15));
  // No identity separable: refused rather than statistics of nothing.
  std::vector<double> e2;
  for (double deg : {0.0, 180.0, 90.0, 270.0}) {
    const auto p = at(deg);
    e2.insert(e2.end(), p.begin(), p.end());
  }
  CHECK(ref::thrown_argument([&] {
          um::threshold_spread(matrix_view<const double>(e2.data(), 4, 2), view(labels));
        }) == "embeddings");
}
