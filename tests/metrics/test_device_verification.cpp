// The verification metrics on a Thrust system (metrics/device/verification.hpp) against the
// host path: the same ROC points exactly, the same AUC, partial AUC, EER and TAR@FAR (within
// 1e-12, in practice bit for bit), and the same exceptions for bad input. Built once per
// Thrust backend (tests/support/backends.hpp picks the policy); the scores are uploaded to
// that policy's memory, so the source also serves a CUDA build.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends.hpp"
#include "unitsface/metrics.hpp"
#include "unitsface/metrics/device/verification.hpp"
#include "unitsface/metrics/genuine_buckets.hpp"

namespace um = unitsface::metrics;
namespace umd = unitsface::metrics::device;
namespace ut = unitsface::test;
using unitsface::index_t;
using unitsface::vector_view;

namespace {

/// Seeded scores with many ties: genuine ~ N(0.5, 0.2), impostor ~ N(0, 0.2), rounded to
/// `step` when step > 0 (so genuine and impostor scores tie too), with a few -0.0 and +0.0.
template <class T>
void make_set(std::uint64_t seed, int n_gen, int n_imp, double step, std::vector<T>& s,
              std::vector<int>& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.5, 0.2), im(0.0, 0.2);
  std::uniform_int_distribution<int> pick(0, n_gen + n_imp - 1);
  s.clear();
  y.clear();
  for (int i = 0; i < n_gen + n_imp; ++i) {
    const bool gen = pick(rng) < n_gen;
    double v = gen ? g(rng) : im(rng);
    if (step > 0) v = std::round(v / step) * step;
    if (i % 97 == 0) v = (i % 2) ? -0.0 : 0.0;
    s.push_back(T(v));
    y.push_back(gen ? 1 : 0);
  }
  // Both classes present whatever the draw.
  y[0] = 1;
  y[1] = 0;
}

template <class T>
vector_view<const T> view(const std::vector<T>& v) {
  return vector_view<const T>(v.data(), index_t(v.size()));
}

/// Uploaded copies of scores and labels in the test policy's memory, with views of them.
template <class T, class L>
struct on_device {
  decltype(ut::upload(std::vector<T>{})) s;
  decltype(ut::upload(std::vector<L>{})) y;
  on_device(const std::vector<T>& hs, const std::vector<L>& hy)
      : s(ut::upload(hs)), y(ut::upload(hy)) {}
  vector_view<const T> scores() const {
    return {unitsface::backends::data_ptr(s), index_t(s.size())};
  }
  vector_view<const L> labels() const {
    return {unitsface::backends::data_ptr(y), index_t(y.size())};
  }
};

void same_curve(const um::roc_curve& got, const um::roc_curve& want) {
  REQUIRE(got.size() == want.size());
  bool same = true;
  for (std::size_t i = 0; i < want.size(); ++i) {
    same = same && got.fpr[i] == want.fpr[i] && got.tpr[i] == want.tpr[i] &&
           got.thresholds[i] == want.thresholds[i];
  }
  CHECK(same);
}

void close(double got, double want) {
  if (std::isinf(want)) {
    CHECK(got == want);
  } else {
    CHECK(std::abs(got - want) <= 1e-12);
  }
}

void same_tar(const std::vector<um::tar_at_far_result>& got,
              const std::vector<um::tar_at_far_result>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(got[i].target == want[i].target);
    close(got[i].tar, want[i].tar);
    close(got[i].threshold, want[i].threshold);
    close(got[i].far, want[i].far);
  }
}

void same_summary(const um::verification_summary& got, const um::verification_summary& want) {
  CHECK(got.genuine == want.genuine);
  CHECK(got.impostor == want.impostor);
  close(got.auc, want.auc);
  close(got.partial_auc.raw, want.partial_auc.raw);
  close(got.partial_auc.mcclish, want.partial_auc.mcclish);
  close(got.eer.eer, want.eer.eer);
  close(got.eer.threshold, want.eer.threshold);
  same_tar(got.at_most, want.at_most);
  same_tar(got.nearest, want.nearest);
  same_tar(got.interpolated, want.interpolated);
}

/// Corner summaries: the device's (summarize_corners) against the host's, exactly.
void same_corners(const um::corner_summary& got, const um::corner_summary& want) {
  CHECK(got.genuine == want.genuine);
  CHECK(got.impostor == want.impostor);
  CHECK(got.auc == want.auc);
  CHECK(got.eer.eer == want.eer.eer);
  CHECK(got.eer.threshold == want.eer.threshold);
  REQUIRE(got.at_most.size() == want.at_most.size());
  for (std::size_t i = 0; i < want.at_most.size(); ++i) {
    CHECK(got.at_most[i].target == want.at_most[i].target);
    CHECK(got.at_most[i].tar == want.at_most[i].tar);
    CHECK(got.at_most[i].threshold == want.at_most[i].threshold);
    CHECK(got.at_most[i].far == want.at_most[i].far);
  }
}

/// Whether the EER of the host's corners reads the threshold of an impostor run's end: a
/// corner of its segment where TP does not rise (the segment's start only where the EER does
/// not fall on its end).
template <class T>
bool eer_reads_a_run(const um::sorted_scores<T>& s) {
  std::vector<um::detail::roc_point> c;
  s.walk_corners([&](index_t fp, index_t tp, double t) { c.push_back({fp, tp, t}); });
  um::detail::eer_accumulator e;
  e.P = s.genuine_count();
  e.N = s.impostor_count();
  std::size_t end = 0;
  while (end < c.size()) {
    e.push(c[end]);
    if (e.found) break;
    ++end;
  }
  const auto is_run = [&](std::size_t k) { return c[k].tp == (k == 0 ? 0 : c[k - 1].tp); };
  return end < c.size() &&
         (is_run(end) || (end > 0 && e.reads_begin_threshold() && is_run(end - 1)));
}

const std::vector<double> targets = {1e-4, 1e-3, 0.01, 0.05, 0.1, 0.3, 1.0};

/// The summary tests' sets: few genuine scores against many impostors (the sort-free path's
/// case), heavy ties to none, a handful of genuine scores, as many genuine as impostor ones.
struct summary_set {
  int gen, imp;
  double step;
};
const summary_set summary_sets[] = {{3, 400, 0.25},     {20, 3000, 0.05},   {60, 9000, 0.01},
                                    {150, 20000, 1e-3}, {100, 30000, 1e-4}, {80, 12000, 0.0},
                                    {1, 500, 0.01},     {400, 400, 0.01}};

}  // namespace

TEMPLATE_TEST_CASE("device ROC points and metrics equal the host path on tied scores",
                   "[metrics][device]", float, double) {
  INFO("backend " << ut::backend_name);
  // (genuine, impostor, tie step): from heavy ties (0.25: a handful of distinct scores) to
  // none, and sizes past the 4096-point first chunk of roc_points::walk.
  const struct {
    int gen, imp;
    double step;
  } sets[] = {{3, 5, 0.25},      {40, 160, 0.05},     {300, 2700, 0.01},
              {500, 6000, 1e-3}, {2000, 18000, 1e-4}, {700, 9000, 0.0}};
  std::uint64_t seed = 7;
  for (const auto& c : sets) {
    std::vector<TestType> hs;
    std::vector<int> hy;
    make_set<TestType>(seed++, c.gen, c.imp, c.step, hs, hy);
    INFO("set " << c.gen << " + " << c.imp << ", step " << c.step);
    const um::sorted_scores<TestType> host(view(hs), view(hy));
    const on_device<TestType, int> d(hs, hy);
    const umd::roc_points points(ut::policy(), d.scores(), d.labels());
    CHECK(points.genuine_count() == host.genuine_count());
    CHECK(points.impostor_count() == host.impostor_count());
    for (bool drop : {false, true})
      same_curve(um::compute_roc(points, drop), um::compute_roc(host, drop));
    same_curve(umd::compute_roc(ut::policy(), d.scores(), d.labels(), true),
               um::compute_roc(host, true));
    close(um::roc_auc(points), um::roc_auc(host));
    close(umd::roc_auc(ut::policy(), d.scores(), d.labels()), um::roc_auc(host));
    for (double m : {0.001, 0.1, 0.5, 1.0}) {
      const auto got = um::partial_auc(points, m), want = um::partial_auc(host, m);
      close(got.raw, want.raw);
      close(got.mcclish, want.mcclish);
    }
    const auto eer = umd::equal_error_rate(ut::policy(), d.scores(), d.labels());
    close(eer.eer, um::equal_error_rate(host).eer);
    close(eer.threshold, um::equal_error_rate(host).threshold);
    for (auto rule : {um::far_rule::at_most, um::far_rule::nearest, um::far_rule::interpolated}) {
      same_tar(um::tar_at_far(points, targets, rule), um::tar_at_far(host, targets, rule));
      same_tar(umd::tar_at_far(ut::policy(), d.scores(), d.labels(), targets, rule),
               um::tar_at_far(host, targets, rule));
    }
    close(umd::threshold_at_far(ut::policy(), d.scores(), d.labels(), 1e-2),
          um::threshold_at_far(host, 1e-2));
    um::verification_options opt;
    opt.far_targets = targets;
    opt.partial_auc_max_far = 0.05;
    same_summary(umd::summarize_verification(ut::policy(), d.scores(), d.labels(), opt),
                 um::summarize_verification(host, opt));
    same_summary(um::summarize_verification(points), um::summarize_verification(host));
  }
}

TEMPLATE_TEST_CASE("device summary: the sort-free and full-sort paths equal the host summary",
                   "[metrics][device][sort_free]", float, double) {
  INFO("backend " << ut::backend_name);
  std::uint64_t seed = 101;
  for (const auto& c : summary_sets) {
    std::vector<TestType> hs;
    std::vector<int> hy;
    make_set<TestType>(seed++, c.gen, c.imp, c.step, hs, hy);
    INFO("set " << c.gen << " + " << c.imp << ", step " << c.step);
    const um::sorted_scores<TestType> host(view(hs), view(hy));
    const on_device<TestType, int> d(hs, hy);
    for (const auto& far_targets :
         {um::standard_far_targets(), targets, std::vector<double>{0.5, 1e-3},
          std::vector<double>{1e-3, 0.02}, std::vector<double>{1.0}}) {
      um::verification_options opt;
      opt.far_targets = far_targets;
      const auto want = um::summarize_verification(host, opt);
      for (auto path : {umd::summary_path::sort_free, umd::summary_path::full_sort,
                        umd::summary_path::automatic}) {
        INFO("path " << int(path) << ", " << far_targets.size() << " targets");
        same_summary(umd::summarize_verification(ut::policy(), d.scores(), d.labels(), opt, path),
                     want);
      }
    }
  }
}

TEMPLATE_TEST_CASE("device corner summary: AUC, EER and at-most TAR@FAR equal the host's corners",
                   "[metrics][device][sort_free]", float, double) {
  INFO("backend " << ut::backend_name);
  // summary_sets, against metrics::summarize_corners of the sorted scores and of
  // genuine_buckets (the host's sort-free source). The EER's threshold is an impostor run's
  // lowest score, found on the device, where its segment ends at a run: some sets must have
  // that case, or the reduction that finds it would go untested.
  std::uint64_t seed = 101;
  int eer_in_runs = 0;
  for (const auto& c : summary_sets) {
    std::vector<TestType> hs;
    std::vector<int> hy;
    make_set<TestType>(seed++, c.gen, c.imp, c.step, hs, hy);
    INFO("set " << c.gen << " + " << c.imp << ", step " << c.step);
    const um::sorted_scores<TestType> host(view(hs), view(hy));
    const auto buckets = um::genuine_buckets::from_scores(view(hs), view(hy));
    const on_device<TestType, int> d(hs, hy);
    eer_in_runs += eer_reads_a_run(host) ? 1 : 0;
    for (const auto& far_targets : {um::standard_far_targets(), targets,
                                    std::vector<double>{0.5, 1e-3}, std::vector<double>{1.0}}) {
      INFO(far_targets.size() << " targets");
      const auto got = umd::summarize_corners(ut::policy(), d.scores(), d.labels(), far_targets);
      same_corners(got, um::summarize_corners(host, far_targets));
      same_corners(got, um::summarize_corners(buckets, far_targets));
    }
  }
  CHECK(eer_in_runs >= 2);
  // Bad input throws as the host's summary does, naming the argument.
  std::vector<TestType> hs{TestType(0.5), TestType(0.1)};
  std::vector<int> hy{1, 0};
  const on_device<TestType, int> d(hs, hy);
  CHECK_THROWS_WITH(umd::summarize_corners(ut::policy(), d.scores(), d.labels(), {0.0}),
                    Catch::Contains("far_targets"));
  hy[1] = 2;
  const on_device<TestType, int> bad_label(hs, hy);
  CHECK_THROWS_WITH(umd::summarize_corners(ut::policy(), bad_label.scores(), bad_label.labels()),
                    Catch::Contains("labels"));
  hy = {1, 1};
  const on_device<TestType, int> one_class(hs, hy);
  CHECK_THROWS_WITH(umd::summarize_corners(ut::policy(), one_class.scores(), one_class.labels()),
                    Catch::Contains("labels"));
}

TEMPLATE_TEST_CASE("device summary, sort-free: all-equal scores, genuine at the extremes",
                   "[metrics][device][sort_free]", float, double) {
  INFO("backend " << ut::backend_name);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> im(0.0, 0.1);
  const auto check = [&](const std::vector<TestType>& hs, const std::vector<int>& hy) {
    const um::sorted_scores<TestType> host(view(hs), view(hy));
    const on_device<TestType, int> d(hs, hy);
    for (auto path : {umd::summary_path::sort_free, umd::summary_path::full_sort})
      same_summary(umd::summarize_verification(ut::policy(), d.scores(), d.labels(), {}, path),
                   um::summarize_verification(host));
    same_corners(umd::summarize_corners(ut::policy(), d.scores(), d.labels()),
                 um::summarize_corners(host));
  };
  std::vector<TestType> hs(5000, TestType(0.25));
  std::vector<int> hy(5000, 0);
  for (int i = 0; i < 5000; i += 500) hy[std::size_t(i)] = 1;
  SECTION("every score equal") {
    check(hs, hy);
  }
  for (auto& v : hs) v = TestType(im(rng));
  SECTION("genuine above every impostor") {
    for (std::size_t i = 0; i < hs.size(); i += 500) hs[i] = TestType(2.0);
    check(hs, hy);
  }
  SECTION("genuine below every impostor") {
    for (std::size_t i = 0; i < hs.size(); i += 500) hs[i] = TestType(-2.0);
    check(hs, hy);
  }
  SECTION("genuine tied with the highest and lowest impostors") {
    const TestType hi = *std::max_element(hs.begin(), hs.end());
    const TestType lo = *std::min_element(hs.begin(), hs.end());
    hs[0] = hi;
    hs[500] = lo;
    check(hs, hy);
  }
  SECTION("one genuine score") {
    std::vector<int> one(hs.size(), 0);
    one[77] = 1;
    check(hs, one);
  }
}

TEST_CASE("device summary, sort-free: bad input throws as the host path does",
          "[metrics][device][sort_free]") {
  std::vector<float> hs(1000, 0.1f);
  std::vector<int> hy(1000, 0);
  hy[3] = 1;
  const auto run = [&](const std::vector<float>& s, const std::vector<int>& y) {
    const on_device<float, int> d(s, y);
    umd::summarize_verification(ut::policy(), d.scores(), d.labels(), {},
                                umd::summary_path::sort_free);
  };
  const auto argument = [&](const std::vector<float>& s, const std::vector<int>& y) {
    try {
      run(s, y);
    } catch (const unitsface::invalid_argument& e) {
      return std::string(e.argument());
    }
    return std::string("no exception");
  };
  auto bad = hs;
  bad[500] = std::numeric_limits<float>::quiet_NaN();
  CHECK(argument(bad, hy) == "scores");
  auto bad_label = hy;
  bad_label[10] = 2;
  CHECK(argument(hs, bad_label) == "labels");
  CHECK(argument(hs, std::vector<int>(1000, 0)) == "labels");
  CHECK(argument(std::vector<float>{}, std::vector<int>{}) == "labels");
  um::verification_options opt;
  opt.far_targets = {0.0};
  const on_device<float, int> d(hs, hy);
  CHECK_THROWS_AS(umd::summarize_verification(ut::policy(), d.scores(), d.labels(), opt,
                                              umd::summary_path::sort_free),
                  unitsface::invalid_argument);
}

TEST_CASE("device path: uint8 labels, strided views, extreme classes at the ends",
          "[metrics][device]") {
  // The highest score an impostor and the lowest a genuine (and the reverse): the first
  // and last corners of the curve.
  for (int flip : {0, 1}) {
    std::vector<double> hs;
    std::vector<std::uint8_t> hy;
    for (int i = 0; i < 400; ++i) {
      hs.push_back(std::round(std::sin(i * 0.37) * 50) / 50);
      hy.push_back(std::uint8_t((i * 7) % 3 == 0));
    }
    hs.push_back(5.0);
    hy.push_back(std::uint8_t(flip));
    hs.push_back(-5.0);
    hy.push_back(std::uint8_t(1 - flip));
    const um::sorted_scores<double> host(view(hs), view(hy));
    const on_device<double, std::uint8_t> d(hs, hy);
    same_summary(umd::summarize_verification(ut::policy(), d.scores(), d.labels()),
                 um::summarize_verification(host));
    same_curve(umd::compute_roc(ut::policy(), d.scores(), d.labels()), um::compute_roc(host));
    // Every other element, as a strided view on both paths.
    const index_t half = index_t(hs.size()) / 2;
    const vector_view<const double> hs2(hs.data(), half, 2);
    const vector_view<const std::uint8_t> hy2(hy.data(), half, 2);
    const vector_view<const double> ds2(d.scores().data, half, 2);
    const vector_view<const std::uint8_t> dy2(d.labels().data, half, 2);
    same_curve(umd::compute_roc(ut::policy(), ds2, dy2), um::compute_roc(hs2, hy2));
  }
}

namespace {

/// Runs f on the host path and g on the device path; both must throw
/// unitsface::invalid_argument with the same argument name and message.
template <class F, class G>
void same_error(F f, G g) {
  std::string host_arg, host_what, dev_arg, dev_what;
  try {
    f();
  } catch (const unitsface::invalid_argument& e) {
    host_arg = e.argument();
    host_what = e.what();
  }
  try {
    g();
  } catch (const unitsface::invalid_argument& e) {
    dev_arg = e.argument();
    dev_what = e.what();
  }
  REQUIRE_FALSE(host_arg.empty());
  CHECK(dev_arg == host_arg);
  CHECK(dev_what == host_what);
}

template <class T, class L>
void same_error_on(const std::vector<T>& hs, const std::vector<L>& hy) {
  const on_device<T, L> d(hs, hy);
  INFO("n = " << hs.size());
  same_error([&] { um::summarize_verification(view(hs), view(hy)); },
             [&] { umd::summarize_verification(ut::policy(), d.scores(), d.labels()); });
  same_error([&] { um::compute_roc(view(hs), view(hy)); },
             [&] { umd::compute_roc(ut::policy(), d.scores(), d.labels()); });
}

}  // namespace

TEST_CASE("device path: bad input throws as the host path does", "[metrics][device]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  same_error_on<double, int>({}, {});                               // empty
  same_error_on<double, int>({0.1, 0.2}, {1, 1});                   // no impostor
  same_error_on<double, int>({0.1, 0.2}, {0, 0});                   // no genuine
  same_error_on<double, int>({0.1, 0.2, 0.3}, {1, 2, 0});           // label 2
  same_error_on<double, int>({0.1, 0.2, 0.3}, {1, 0, -1});          // label -1
  same_error_on<double, double>({0.1, 0.2, 0.3}, {1, 0.5, 0});      // label 0.5
  same_error_on<double, double>({0.1, 0.2, 0.3}, {1, 0, nan});      // NaN label
  same_error_on<double, int>({0.1, nan, 0.3}, {1, 0, 0});           // NaN score
  same_error_on<float, int>({0.1f, 0.2f, float(-inf)}, {1, 0, 0});  // -inf score
  same_error_on<double, int>({0.1, inf, 0.3}, {1, 7, 0});           // score checked before label
  {
    const std::vector<double> hs{0.1, 0.2, 0.3};
    const std::vector<int> hy{1, 0, 9};
    const std::vector<int> hy5{1, 0, 0, 0, 1};
    const on_device<double, int> d(hs, hy);
    const on_device<double, int> d5(hs, hy5);
    // Length mismatch.
    same_error([&] { um::roc_auc(view(hs), view(hy5)); },
               [&] { umd::roc_auc(ut::policy(), d5.scores(), d5.labels()); });
    // Argument checks before the scores are read: far_targets, max_far, far_target.
    same_error([&] { um::tar_at_far(view(hs), view(hy), {0.0}); },
               [&] { umd::tar_at_far(ut::policy(), d.scores(), d.labels(), {0.0}); });
    same_error([&] { um::partial_auc(view(hs), view(hy), 1.5); },
               [&] { umd::partial_auc(ut::policy(), d.scores(), d.labels(), 1.5); });
    same_error([&] { um::threshold_at_far(view(hs), view(hy), nan); },
               [&] { umd::threshold_at_far(ut::policy(), d.scores(), d.labels(), nan); });
    um::verification_options opt;
    opt.far_targets = {};
    same_error([&] { um::summarize_verification(view(hs), view(hy), opt); },
               [&] { umd::summarize_verification(ut::policy(), d.scores(), d.labels(), opt); });
    // Valid input through the same entry points does not throw.
    const std::vector<int> good{1, 0, 0};
    const on_device<double, int> dg(hs, good);
    CHECK_NOTHROW(umd::equal_error_rate(ut::policy(), dg.scores(), dg.labels()));
  }
}
