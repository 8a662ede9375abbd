// Verification metrics (ROC, AUC, partial AUC, EER, TAR@FAR, FAR/FRR) against brute-force
// references, properties and bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "reference.hpp"
#include "unitsface/metrics.hpp"

namespace um = unitsface::metrics;
using unitsface::index_t;
using unitsface::vector_view;

namespace {

/// Seeded scores: genuine ~ N(0.5, 0.2), impostor ~ N(0, 0.2); with `tie_step` > 0 every
/// score is rounded to that step, so many ties (and genuine/impostor ties) occur.
template <class T>
void make_set(std::uint64_t seed, int n_gen, int n_imp, double tie_step, std::vector<T>& s,
              std::vector<int>& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.5, 0.2), im(0.0, 0.2);
  s.clear();
  y.clear();
  for (int i = 0; i < n_gen + n_imp; ++i) {
    const bool gen = i % (n_gen + n_imp) < n_gen;
    double v = gen ? g(rng) : im(rng);
    if (tie_step > 0) v = std::round(v / tie_step) * tie_step;
    s.push_back(T(v));
    y.push_back(gen ? 1 : 0);
  }
  std::shuffle(s.begin(), s.end(), std::mt19937_64(seed + 1));
  std::shuffle(y.begin(), y.end(), std::mt19937_64(seed + 1));  // same permutation
}

template <class T>
vector_view<const T> view(const std::vector<T>& v) {
  return vector_view<const T>(v.data(), index_t(v.size()));
}

}  // namespace

TEMPLATE_TEST_CASE("roc_curve matches a brute-force ROC, with and without drop_intermediate",
                   "[metrics][roc]", float, double) {
  for (double step : {0.0, 0.05, 0.25}) {
    std::vector<TestType> s;
    std::vector<int> y;
    make_set<TestType>(11 + std::uint64_t(step * 100), 60, 240, step, s, y);
    const std::vector<double> sd(s.begin(), s.end());
    const auto want = ref::roc(sd, y);
    const double P = ref::count(y, 1), N = ref::count(y, 0);
    for (bool drop : {false, true}) {
      const auto r = um::compute_roc(view(s), view(y), drop);
      const auto w = drop ? ref::drop_intermediate(want) : want;
      REQUIRE(r.size() == w.size());
      for (std::size_t i = 0; i < w.size(); ++i) {
        CHECK(r.fpr[i] == w[i].fp / N);
        CHECK(r.tpr[i] == w[i].tp / P);
        CHECK(r.thresholds[i] == w[i].threshold);
      }
    }
  }
}

TEMPLATE_TEST_CASE("summary metrics match brute-force references", "[metrics][summary]", float,
                   double) {
  const std::vector<double> targets = {1e-3, 0.01, 0.05, 0.1, 0.3, 1.0};
  for (double step : {0.0, 0.02, 0.1}) {
    std::vector<TestType> s;
    std::vector<int> y;
    make_set<TestType>(23 + std::uint64_t(step * 1000), 150, 450, step, s, y);
    const std::vector<double> sd(s.begin(), s.end());
    const auto r = ref::roc(sd, y);
    const double P = ref::count(y, 1), N = ref::count(y, 0);
    um::verification_options opt;
    opt.far_targets = targets;
    opt.partial_auc_max_far = 0.1;
    const auto sum = um::summarize_verification(view(s), view(y), opt);
    CHECK(sum.genuine == index_t(P));
    CHECK(sum.impostor == index_t(N));
    CHECK(sum.auc == Approx(ref::auc(sd, y)).margin(1e-14));
    CHECK(sum.eer.eer == Approx(ref::eer(r, P, N)).margin(1e-12));
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const auto a = ref::at_most(r, P, N, targets[k]);
      CHECK(sum.at_most[k].tar == a.tar);
      CHECK(sum.at_most[k].threshold == a.threshold);
      CHECK(sum.at_most[k].far == a.far);
      CHECK(sum.at_most[k].far <= targets[k]);
      const auto n = ref::nearest(r, P, N, targets[k]);
      CHECK(sum.nearest[k].tar == n.tar);
      CHECK(sum.nearest[k].threshold == n.threshold);
      CHECK(sum.nearest[k].far == n.far);
      CHECK(sum.interpolated[k].tar ==
            Approx(ref::interpolated(r, P, N, targets[k])).margin(1e-14));
      CHECK(um::threshold_at_far(view(s), view(y), targets[k]) == a.threshold);
    }
    // Partial AUC: trapezoids of the brute-force ROC up to 0.1, the last one cut at 0.1.
    double raw = 0;
    for (std::size_t i = 1; i < r.size(); ++i) {
      const double x0 = r[i - 1].fp / N, x1 = r[i].fp / N;
      const double y0 = r[i - 1].tp / P, y1 = r[i].tp / P;
      if (x0 >= 0.1) break;
      const double xe = std::min(x1, 0.1);
      const double ye = x1 > x0 ? y0 + (y1 - y0) * (xe - x0) / (x1 - x0) : y1;
      raw += (xe - x0) * (y0 + ye) / 2;
    }
    CHECK(sum.partial_auc.raw == Approx(raw).margin(1e-14));
    CHECK(sum.partial_auc.mcclish ==
          Approx(0.5 * (1 + (raw - 0.005) / (0.1 - 0.005))).margin(1e-13));
    // The individual entry points agree with the one-walk summary.
    CHECK(um::roc_auc(view(s), view(y)) == sum.auc);
    CHECK(um::equal_error_rate(view(s), view(y)).eer == sum.eer.eer);
    CHECK(um::partial_auc(view(s), view(y), 0.1).raw == sum.partial_auc.raw);
  }
}

TEST_CASE("partial AUC up to FAR 1 is the whole AUC, auc() of a curve is its trapezoids",
          "[metrics][roc]") {
  std::vector<double> s;
  std::vector<int> y;
  make_set<double>(5, 40, 90, 0.1, s, y);
  const double full = um::roc_auc(view(s), view(y));
  const auto p = um::partial_auc(view(s), view(y), 1.0);
  CHECK(p.raw == Approx(full).margin(1e-15));
  CHECK(p.mcclish == Approx(full).margin(1e-15));
  CHECK(um::auc(um::compute_roc(view(s), view(y))) == Approx(full).margin(1e-14));
  CHECK(um::auc(um::compute_roc(view(s), view(y), true)) == Approx(full).margin(1e-14));
}

TEMPLATE_TEST_CASE("ROC is monotone and ends at (1, 1)", "[metrics][roc][property]", float,
                   double) {
  std::vector<TestType> s;
  std::vector<int> y;
  make_set<TestType>(99, 300, 3000, 0.01, s, y);
  const auto r = um::compute_roc(view(s), view(y));
  REQUIRE(r.size() >= 2);
  CHECK(std::isinf(r.thresholds[0]));
  CHECK(r.fpr[0] == 0.0);
  CHECK(r.tpr[0] == 0.0);
  for (std::size_t i = 1; i < r.size(); ++i) {
    CHECK(r.fpr[i] >= r.fpr[i - 1]);
    CHECK(r.tpr[i] >= r.tpr[i - 1]);
    CHECK(r.thresholds[i] < r.thresholds[i - 1]);
    CHECK((r.fpr[i] > r.fpr[i - 1] || r.tpr[i] > r.tpr[i - 1]));
  }
  CHECK(r.fpr.back() == 1.0);
  CHECK(r.tpr.back() == 1.0);
}

TEMPLATE_TEST_CASE("perfectly separated sets: AUC 1, EER 0, TAR 1 at any FAR",
                   "[metrics][property]", float, double) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<TestType> s;
  std::vector<int> y;
  for (int i = 0; i < 500; ++i) {
    const bool g = i % 5 == 0;
    s.push_back(TestType(g ? 1.0 + u(rng) : -u(rng)));
    y.push_back(g);
  }
  const auto sum = um::summarize_verification(view(s), view(y));
  CHECK(sum.auc == 1.0);
  CHECK(sum.eer.eer == 0.0);
  for (const auto& t : sum.at_most) {
    CHECK(t.tar == 1.0);
    CHECK(t.far == 0.0);
  }
  // The opposite order: AUC 0, EER 1.
  for (auto& v : s) v = -v;
  const auto rev = um::summarize_verification(view(s), view(y));
  CHECK(rev.auc == 0.0);
  CHECK(rev.eer.eer == 1.0);
}

TEMPLATE_TEST_CASE("EER is symmetric under swapping labels and negating scores",
                   "[metrics][eer][property]", float, double) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    for (double step : {0.0, 0.05}) {
      std::vector<TestType> s;
      std::vector<int> y;
      make_set<TestType>(seed, 70 + int(seed) * 13, 400, step, s, y);
      const auto e = um::equal_error_rate(view(s), view(y));
      for (auto& v : s) v = -v;
      for (auto& l : y) l = 1 - l;
      const auto f = um::equal_error_rate(view(s), view(y));
      CHECK(f.eer == Approx(e.eer).margin(1e-12));
    }
  }
}

TEST_CASE("signed zeros form one score and the radix sort orders like std::sort",
          "[metrics][sort]") {
  {
    std::vector<float> s = {0.0f, -0.0f, 0.5f, -0.0f, 0.0f, -0.5f};
    std::vector<int> y = {1, 0, 1, 1, 0, 0};
    const auto r = um::compute_roc(view(s), view(y));
    // Points: +inf, 0.5, 0 (four scores, 2 genuine + 2 impostor), -0.5.
    REQUIRE(r.size() == 4);
    CHECK(r.thresholds[2] == 0.0);
    CHECK(r.fpr[2] == 2.0 / 3.0);
    CHECK(r.tpr[2] == 1.0);
  }
  // Enough scores for the per-bucket LSD passes, and one bucket above the scratch cap
  // (65536 keys sharing their top 16 bits), which takes the std::sort fallback.
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<float> wide(-1.0f, 1.0f), narrow(0.5f, 0.5019f);
  std::vector<float> s;
  std::vector<int> y;
  for (int i = 0; i < 60000; ++i) s.push_back(wide(rng)), y.push_back(0);
  for (int i = 0; i < 70000; ++i) s.push_back(narrow(rng)), y.push_back(0);
  for (int i = 0; i < 3000; ++i) s.push_back(wide(rng)), y.push_back(1);
  const um::sorted_scores<float> ss(view(s), view(y));
  std::vector<float> imp(s.begin(), s.begin() + 130000), gen(s.begin() + 130000, s.end());
  std::sort(imp.begin(), imp.end());
  std::sort(gen.begin(), gen.end());
  REQUIRE(ss.impostor_keys().size() == imp.size());
  bool same = true;
  for (std::size_t i = 0; i < imp.size(); ++i) {
    same = same && um::detail::key_to_score<float>(ss.impostor_keys()[i]) == imp[i];
  }
  for (std::size_t i = 0; i < gen.size(); ++i) {
    same = same && um::detail::key_to_score<float>(ss.genuine_keys()[i]) == gen[i];
  }
  CHECK(same);
  CHECK(ss.bytes() == s.size() * sizeof(float));
}

TEMPLATE_TEST_CASE("far_frr_at_threshold counts accepted impostors and rejected genuines",
                   "[metrics][far]", float, double) {
  std::vector<TestType> s;
  std::vector<int> y;
  make_set<TestType>(41, 50, 150, 0.1, s, y);
  for (double t : {-1.0, 0.0, 0.1, 0.3, 2.0}) {
    double fa = 0, fr = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (!y[i] && double(s[i]) >= t) ++fa;
      if (y[i] && double(s[i]) < t) ++fr;
    }
    const auto r = um::far_frr_at_threshold(view(s), view(y), t);
    CHECK(r.accepted_impostors == index_t(fa));
    CHECK(r.rejected_genuines == index_t(fr));
    CHECK(r.far == fa / 150.0);
    CHECK(r.frr == fr / 50.0);
  }
}

TEMPLATE_TEST_CASE("bad verification input throws invalid_argument naming the argument",
                   "[metrics][errors]", float, double) {
  using T = TestType;
  const std::vector<T> s = {T(0.1), T(0.2), T(0.3)};
  const std::vector<int> y = {1, 0, 1};
  const std::vector<T> empty_s;
  const std::vector<int> empty_y;
  const std::vector<int> all_gen = {1, 1, 1}, all_imp = {0, 0, 0}, bad = {1, 2, 0};
  std::vector<T> nan_s = s;
  nan_s[1] = std::numeric_limits<T>::quiet_NaN();
  using ref::thrown_argument;
  CHECK(thrown_argument([&] { um::roc_auc(view(empty_s), view(empty_y)); }) == "labels");
  CHECK(thrown_argument([&] { um::roc_auc(view(s), view(all_gen)); }) == "labels");
  CHECK(thrown_argument([&] { um::equal_error_rate(view(s), view(all_imp)); }) == "labels");
  CHECK(thrown_argument([&] { um::compute_roc(view(s), view(bad)); }) == "labels");
  CHECK(thrown_argument([&] { um::compute_roc(view(s), view(empty_y)); }) == "labels");
  CHECK(thrown_argument([&] { um::summarize_verification(view(nan_s), view(y)); }) == "scores");
  std::vector<T> inf_s = s;
  inf_s[0] = std::numeric_limits<T>::infinity();
  CHECK(thrown_argument([&] { um::roc_auc(view(inf_s), view(y)); }) == "scores");
  for (double t : {0.0, -0.1, 1.5, std::nan("")}) {
    CHECK(thrown_argument([&] { um::tar_at_far(view(s), view(y), {1e-3, t}); }) == "far_targets");
    CHECK(thrown_argument([&] { um::threshold_at_far(view(s), view(y), t); }) == "far_target");
    CHECK(thrown_argument([&] { um::partial_auc(view(s), view(y), t); }) == "max_far");
  }
  CHECK(thrown_argument([&] { um::tar_at_far(view(s), view(y), {}); }) == "far_targets");
  CHECK(thrown_argument([&] { um::far_frr_at_threshold(view(s), view(bad), 0.2); }) == "labels");
  CHECK(thrown_argument([&] { um::far_frr_at_threshold(view(nan_s), view(y), 0.2); }) == "scores");
  CHECK(thrown_argument([&] { um::far_frr_at_threshold(view(s), view(y), std::nan("")); }) ==
        "threshold");
}

TEMPLATE_TEST_CASE("EER threshold lies on the full-ROC crossing segment, interpolated in FAR",
                   "[metrics][eer]", float, double) {
  // Many small seeded sets, genuine scores shifted by a random amount (so the EER falls
  // anywhere in [0, 1]) and rounded to coarse steps, so that the crossing lands on sloped
  // pieces, on diagonal pieces (genuine and impostor scores tied), on vertical pieces (tied
  // genuine scores) and inside horizontal runs of impostor scores that the corner walk crosses
  // in one step, tied impostor scores among them.
  int sloped = 0, vertical = 0, tied_impostors = 0, inside_run = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    std::mt19937_64 rng(seed);
    const int n_gen = 1 + int(rng() % 30), n_imp = 1 + int(rng() % 120);
    const double shift = std::uniform_real_distribution<double>(-0.3, 0.9)(rng);
    const double steps[] = {0.0, 0.01, 0.05, 0.1, 0.25};
    const double step = steps[rng() % 5];
    std::normal_distribution<double> nd(0.0, 0.2);
    std::vector<TestType> s;
    std::vector<int> y;
    for (int i = 0; i < n_gen + n_imp; ++i) {
      const bool g = i < n_gen;
      double v = nd(rng) + (g ? shift : 0.0);
      if (step > 0) v = std::round(v / step) * step;
      s.push_back(TestType(v));
      y.push_back(g);
    }
    const std::vector<double> sd(s.begin(), s.end());
    const auto r = ref::roc(sd, y);
    const double P = n_gen, N = n_imp;
    const auto c = ref::eer_crossing(r, P, N);
    const auto e = um::equal_error_rate(view(s), view(y));
    INFO("seed " << seed << ", segment (" << c.a.fp << ", " << c.a.tp << ", " << c.a.threshold
                 << ") -> (" << c.b.fp << ", " << c.b.tp << ", " << c.b.threshold << ")");
    CHECK(e.eer == Approx(ref::eer_exact(c, N)).epsilon(0).margin(1e-12));
    // Between the segment's end thresholds, whatever its shape.
    CHECK(e.threshold >= c.b.threshold - 1e-12);
    CHECK(e.threshold <= c.a.threshold + 1e-12);
    if (c.a.fp == c.b.fp) {
      ++vertical;  // every threshold of a vertical piece is as right
      continue;
    }
    ++sloped;
    // A horizontal segment that is only part of a segment of the corner walk: a point next
    // to it is reached by an impostor-only step too (the walk skips such points).
    const bool horizontal = c.a.tp == c.b.tp;
    tied_impostors += horizontal && c.b.fp - c.a.fp >= 2;
    inside_run += horizontal && ((c.i > 0 && r[c.i - 1].tp == c.a.tp) ||
                                 (c.i + 2 < r.size() && r[c.i + 2].tp == c.b.tp));
    CHECK(e.threshold == Approx(ref::eer_threshold(c)).epsilon(0).margin(1e-12));
  }
  // The sets reach every kind of crossing.
  CHECK(sloped > 100);
  CHECK(vertical > 10);
  CHECK(tied_impostors > 5);
  CHECK(inside_run > 5);
}

TEMPLATE_TEST_CASE("TAR@FAR rules at their boundaries, hand-computed", "[metrics][tar_at_far]",
                   float, double) {
  using T = TestType;
  // 5 genuine and 8 impostor scores (FARs k/8 are exact in binary). Full ROC, (fp, tp) at
  // each threshold:
  //   +inf (0,0)  0.9 (0,1)  0.8 (1,1)  0.7 (2,2): a genuine and an impostor tied
  //   0.6 (3,2)  0.5 (4,2): TAR tied with 0.7   0.4 (4,3)  0.3 (4,4): vertical at FAR 0.5
  //   0.2 (5,4)  0.1 (6,4)  0.0 (7,4)  -0.1 (8,4)  -0.5 (8,5)
  // drop_intermediate keeps +inf, 0.9, 0.8, 0.7, 0.5, 0.3, -0.1, -0.5. The upper envelope
  // (largest TP at each FP): fp 0: 1 (0.9), 1: 1 (0.8), 2: 2 (0.7), 3: 2 (0.6), 4: 4 (0.3),
  // 5..7: 4, 8: 5 (-0.5).
  const std::vector<T> s = {T(0.9), T(0.8), T(0.7), T(0.7), T(0.6),  T(0.5), T(0.4),
                            T(0.3), T(0.2), T(0.1), T(0.0), T(-0.1), T(-0.5)};
  const std::vector<int> y = {1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1};
  auto thr = [](double v) { return double(T(v)); };  // a score as the library reports it
  struct want {
    double target, tar, threshold, far;
  };
  // tol: 0 where a ROC point is reported (TAR and FAR are its exact quotients, the threshold
  // its score); between points the interpolated rule's arithmetic rounds.
  auto check = [&](um::far_rule rule, const std::vector<want>& w, double tol) {
    std::vector<double> targets;
    for (const auto& x : w) targets.push_back(x.target);
    const auto got = um::tar_at_far(view(s), view(y), targets, rule);
    REQUIRE(got.size() == w.size());
    for (std::size_t k = 0; k < w.size(); ++k) {
      INFO("rule " << int(rule) << ", target " << w[k].target);
      CHECK(got[k].target == w[k].target);
      CHECK(got[k].tar == Approx(w[k].tar).epsilon(0).margin(tol));
      CHECK(got[k].threshold == Approx(w[k].threshold).epsilon(0).margin(tol));
      CHECK(got[k].far == w[k].far);
    }
  };
  // At most: FAR <= target, largest TAR, then the highest threshold.
  check(um::far_rule::at_most,
        {
            // 0.7 reaches FAR 0.25 exactly: allowed. The tied impostor at 0.7 counts with it.
            {0.25, 2.0 / 5, thr(0.7), 0.25},
            // 0.6 has the same TAR at FAR 0.375: the higher threshold 0.7 wins.
            {0.375, 2.0 / 5, thr(0.7), 0.25},
            // Below 0.25 the tie at 0.7 cannot be split: 0.9 and 0.8 tie in TAR, 0.9 wins.
            {0.125, 1.0 / 5, thr(0.9), 0.0},
            {0.2, 1.0 / 5, thr(0.9), 0.0},
            // FAR 0.5 exactly, on the vertical piece: its largest TAR (0.3).
            {0.5, 4.0 / 5, thr(0.3), 0.5},
            {0.74, 4.0 / 5, thr(0.3), 0.5},
            {1.0, 1.0, thr(-0.5), 1.0},
        },
        0.0);
  // Nearest: drop_intermediate points, reversed, first smallest |FAR - target|.
  check(um::far_rule::nearest,
        {
            {0.25, 2.0 / 5, thr(0.7), 0.25},  // hit exactly
            {0.125, 1.0 / 5, thr(0.8), 0.125},
            // FAR 0.25 (0.7) and FAR 0.5 (0.5 and 0.3) are all 0.125 away: reversed order
            // meets 0.3 first.
            {0.375, 4.0 / 5, thr(0.3), 0.5},
            {0.5, 4.0 / 5, thr(0.3), 0.5},
            // +inf, 0.9 (FAR 0) and 0.8 (FAR 0.125) are all 0.0625 away: 0.8, above the target.
            {0.0625, 1.0 / 5, thr(0.8), 0.125},
            {1.0, 1.0, thr(-0.5), 1.0},
        },
        0.0);
  // Interpolated: numpy.interp on the envelope, threshold interpolated alike, FAR the one
  // that threshold achieves. On a point's FAR the envelope's own values, exactly.
  check(um::far_rule::interpolated,
        {
            {0.125, 1.0 / 5, thr(0.8), 0.125},
            {0.25, 2.0 / 5, thr(0.7), 0.25},
            {0.5, 4.0 / 5, thr(0.3), 0.5},  // the largest TAR of the vertical piece
            {0.625, 4.0 / 5, thr(0.2), 0.625},
            {1.0, 1.0, thr(-0.5), 1.0},
        },
        0.0);
  check(um::far_rule::interpolated,
        {
            // Halfway along the flat piece FAR 0.25 -> 0.375 (TAR tied at 2/5); the threshold,
            // between the two points' scores, accepts the impostors of the first: FAR 0.25.
            {0.3125, 2.0 / 5, thr(0.7) + 0.5 * (thr(0.6) - thr(0.7)), 0.25},
            // Halfway from (0.375, 2/5) to (0.5, 4/5): the threshold 0.45 is below the impostor
            // at 0.5 where the FAR steps to 0.5, so it achieves FAR 0.5.
            {0.4375, 3.0 / 5, thr(0.6) + 0.5 * (thr(0.3) - thr(0.6)), 0.5},
            // FAR 0 has TAR 1/5 on the envelope (0.9), not the 0 of the +inf point.
            {0.0625, 1.0 / 5, thr(0.9) + 0.5 * (thr(0.8) - thr(0.9)), 0.0},
        },
        1e-15);
}

TEMPLATE_TEST_CASE("TAR@FAR rules match brute force with targets exactly at ROC points",
                   "[metrics][tar_at_far]", float, double) {
  // Coarse ties put genuine and impostor scores on the same thresholds, several points on one
  // TAR and several on one FAR; the targets are every FAR the ROC reaches (formed as the
  // library forms them, fp / N), their midpoints, and points just beside them.
  int hits = 0;
  for (std::uint64_t seed = 0; seed < 60; ++seed) {
    std::vector<TestType> s;
    std::vector<int> y;
    const double step = seed % 3 == 0 ? 0.1 : seed % 3 == 1 ? 0.05 : 0.02;
    make_set<TestType>(1000 + seed, 10 + int(seed % 17), 16 + int(seed % 29) * 3, step, s, y);
    const std::vector<double> sd(s.begin(), s.end());
    const auto r = ref::roc(sd, y);
    const double P = ref::count(y, 1), N = ref::count(y, 0);
    std::vector<double> targets;
    for (std::size_t i = 1; i < r.size(); ++i) {
      const double f = r[i].fp / N;
      if (f <= 0 || (!targets.empty() && targets.back() == f)) continue;
      targets.push_back(f);
    }
    const std::size_t exact = targets.size();
    for (std::size_t i = 0; i < exact; ++i) {
      const double f = targets[i];
      targets.push_back(std::nextafter(f, 0.0));
      if (f < 1) targets.push_back(std::nextafter(f, 1.0));
      if (i + 1 < exact) targets.push_back(0.5 * (f + targets[i + 1]));
    }
    const um::sorted_scores<TestType> ss(view(s), view(y));
    const auto am = um::tar_at_far(ss, targets, um::far_rule::at_most);
    const auto ne = um::tar_at_far(ss, targets, um::far_rule::nearest);
    const auto in = um::tar_at_far(ss, targets, um::far_rule::interpolated);
    for (std::size_t k = 0; k < targets.size(); ++k) {
      INFO("seed " << seed << ", target " << targets[k]);
      const auto a = ref::at_most(r, P, N, targets[k]);
      CHECK(am[k].tar == a.tar);
      CHECK(am[k].threshold == a.threshold);
      CHECK(am[k].far == a.far);
      hits += k < exact && a.far == targets[k];
      const auto n = ref::nearest(r, P, N, targets[k]);
      CHECK(ne[k].tar == n.tar);
      CHECK(ne[k].threshold == n.threshold);
      CHECK(ne[k].far == n.far);
      // The FAR reported is the one its threshold achieves, counted here by brute force.
      double accepted = 0;
      for (std::size_t i = 0; i < sd.size(); ++i) accepted += y[i] == 0 && sd[i] >= in[k].threshold;
      CHECK(in[k].far == accepted / N);
      if (k >= exact) {
        CHECK(in[k].tar == Approx(ref::interpolated(r, P, N, targets[k])).epsilon(0).margin(1e-14));
        continue;
      }
      // On a point's FAR numpy.interp returns the envelope's value itself, not the end of an
      // interpolation: the largest TAR at that FAR, at the last (lowest) threshold reaching it.
      CHECK(in[k].tar == ref::interpolated(r, P, N, targets[k]));
      double envelope_threshold = 0;
      for (const auto& p : r) {
        if (p.fp / N == targets[k]) envelope_threshold = p.threshold;
      }
      CHECK(in[k].threshold == envelope_threshold);
    }
  }
  CHECK(hits > 100);  // the at-most rule often stops exactly on its target
}
