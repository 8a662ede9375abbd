// conformance_metrics: checks unitsface's metrics against reference vectors.
//
//   conformance_metrics [FOLDER] [--backend NAME] [--expect-cases N]
//
// Reads every *.json case of FOLDER (default: the project's tests/data/vectors/metrics, as
// found at configure time), prints each case's max error per field and a closing line
// "N passed, M failed", and exits non-zero when a case fails, when a case has an unknown kind,
// when no case is found, or (with --expect-cases) when the folder does not hold N cases. A
// case fails when a field of its `expected` was not compared.
// Error of a field = max |got - expected| / max |expected| over its elements (absolute when
// the expected values are all 0). Tolerances follow the vectors' README: ROC points, k-fold
// and identification values exact; every other verification value 1e-9; eer_threshold must
// lie on the crossing segment of the full ROC, and equal the reference where that segment is
// not vertical (check_eer_threshold).
//
// --backend host (the default) checks the host path. A Thrust backend built into the runner
// (thrust_cpp, thrust_omp; cuda in its nvcc build, cuda/conformance_metrics_cuda.cu) checks
// the verification cases on that system: the scores and labels are copied to its memory, the
// ROC points computed there (metrics/device/roc_points.hpp) and every metric read from them.
// The k-fold and identification cases have no device path: under such a backend they run on
// the host path, and their line says so ("host path").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_run.hpp"
#include "unitsface/metrics.hpp"
#if defined(UNITSFACE_WITH_THRUST_CPP) || defined(UNITSFACE_WITH_THRUST_OMP) || \
    defined(UNITSFACE_WITH_SIMULATED_DEVICE) || defined(UNITSFACE_WITH_CUDA)
#define UNITSFACE_CONFORMANCE_DEVICE_METRICS 1
#include "unitsface/metrics/device/verification.hpp"
#endif

#ifndef UNITSFACE_METRICS_VECTORS_DIR
#define UNITSFACE_METRICS_VECTORS_DIR "tests/data/vectors/metrics"
#endif

using json = nlohmann::json;
namespace um = unitsface::metrics;
using unitsface::index_t;

namespace {

using unitsface::test::json_number;
using unitsface::test::json_numbers;

/// One field's comparison: error as the README defines it, with its tolerance.
struct field {
  std::string name;
  double error = 0;
  double tolerance = 0;
  bool checked = true;
  bool ok() const { return !checked || error <= tolerance; }
};

double diff(double got, double want) {
  if (std::isinf(want) || std::isinf(got)) return got == want ? 0.0 : HUGE_VAL;
  if (std::isnan(got) || std::isnan(want)) return HUGE_VAL;
  return std::abs(got - want);
}

double field_error(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return HUGE_VAL;
  double scale = 0, err = 0;
  for (double w : want) {
    if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
  }
  for (std::size_t i = 0; i < got.size(); ++i) err = std::max(err, diff(got[i], want[i]));
  return scale > 0 && std::isfinite(err) ? err / scale : err;
}

/// Keeps the larger error of a field across runs (float and double scores).
struct report {
  std::vector<field> fields;
  void add(const std::string& name, const std::vector<double>& got, const std::vector<double>& want,
           double tol, bool checked = true) {
    const double e = field_error(got, want);
    for (auto& f : fields) {
      if (f.name == name) {
        f.error = std::max(f.error, e);
        return;
      }
    }
    fields.push_back({name, e, tol, checked});
  }
  bool ok() const {
    return std::all_of(fields.begin(), fields.end(), [](const field& f) { return f.ok(); });
  }
  /// The keys of `expected` that no field compared: a field named `key`, `key.<part>` or
  /// `key(<entry point>)` compares `key`. A case passes only when this is empty, so that it
  /// cannot pass by checking less than it holds.
  std::vector<std::string> not_compared(const json& expected) const {
    std::vector<std::string> missing;
    for (const auto& item : expected.items()) {
      const std::string key = item.key();  // a named copy: lambdas cannot capture a binding
      const bool found = std::any_of(fields.begin(), fields.end(), [&](const field& f) {
        return f.name == key || f.name.rfind(key + ".", 0) == 0 || f.name.rfind(key + "(", 0) == 0;
      });
      if (!found) missing.push_back(key);
    }
    return missing;
  }
};

/// The EER threshold's oracle, the reference's full ROC: the threshold must lie on the ROC
/// segment where 1 - FAR - TAR changes sign (between its two end thresholds), and equal the
/// reference's interpolation along that segment where the segment is not vertical. On a
/// vertical segment (tied genuine scores) every threshold of the segment is as right, so the
/// reference value is informative there.
void check_eer_threshold(const json& e, double got, report& rep) {
  const json& roc = e.at("roc_full");
  const auto fpr = json_numbers(roc.at("fpr")), tpr = json_numbers(roc.at("tpr")),
             thr = json_numbers(roc.at("thresholds"));
  std::size_t i = 0;
  while (i + 1 < fpr.size() && !(1 - fpr[i] - tpr[i] > 0 && 1 - fpr[i + 1] - tpr[i + 1] <= 0)) ++i;
  if (i + 1 >= fpr.size()) throw std::runtime_error("roc_full never crosses FAR = 1 - TAR");
  const double hi = thr[i], lo = thr[i + 1];
  const double outside = got > hi ? got - hi : got < lo ? lo - got : std::isnan(got) ? HUGE_VAL : 0;
  rep.add("eer_threshold(on the crossing segment)", {outside}, {0.0}, 1e-12);
  const bool vertical = fpr[i] == fpr[i + 1];
  rep.add(vertical ? "eer_threshold(vertical crossing: informative)" : "eer_threshold", {got},
          {json_number(e.at("eer_threshold"))}, 1e-9, !vertical);
}

/// Every verification check of one case on a score source: host sorted_scores or the ROC
/// points of a Thrust system (metrics::roc_source either way).
template <class Src>
void check_verification_on(const json& c, const Src& s, report& rep) {
  const json& e = c.at("expected");

  for (const auto& [key, drop] : {std::pair{"roc_full", false}, {"roc_drop_intermediate", true}}) {
    const um::roc_curve r = um::compute_roc(s, drop);
    const json& x = e.at(key);
    rep.add(std::string(key) + ".fpr", r.fpr, json_numbers(x.at("fpr")), 0.0);
    rep.add(std::string(key) + ".tpr", r.tpr, json_numbers(x.at("tpr")), 0.0);
    rep.add(std::string(key) + ".thresholds", r.thresholds, json_numbers(x.at("thresholds")), 0.0);
  }

  um::verification_options opt;
  opt.far_targets.clear();
  std::vector<std::string> target_keys;
  for (const auto& [k, v] : e.at("tar_at_far_at_most").items()) {
    target_keys.push_back(k);
    opt.far_targets.push_back(std::stod(k));
  }
  // The one-walk summary, and each metric through its own entry point: both must agree with
  // the vectors.
  const um::verification_summary sum = um::summarize_verification(s, opt);
  const double tol = 1e-9;
  rep.add("auc", {sum.auc}, {json_number(e.at("auc"))}, tol);
  // Named first: nvcc's front end rewrites a dependent call inside braces into code the
  // host compiler rejects.
  const double auc_alone = um::roc_auc(s);
  rep.add("auc(roc_auc)", {auc_alone}, {json_number(e.at("auc"))}, tol);
  rep.add("eer", {sum.eer.eer}, {json_number(e.at("eer"))}, tol);
  const double eer_alone = um::equal_error_rate(s).eer;
  rep.add("eer(equal_error_rate)", {eer_alone}, {json_number(e.at("eer"))}, tol);
  check_eer_threshold(e, sum.eer.threshold, rep);
  for (const auto& [k, v] : e.items()) {
    const std::string pfx = "partial_auc_max_far_";
    if (k.rfind(pfx, 0) != 0) continue;
    const double m = std::stod(k.substr(pfx.size()));
    const um::partial_auc_result p = um::partial_auc(s, m);
    rep.add(k + ".raw", {p.raw}, {json_number(v.at("raw"))}, tol);
    rep.add(k + ".mcclish", {p.mcclish}, {json_number(v.at("mcclish"))}, tol);
    if (m == opt.partial_auc_max_far) {
      rep.add(k + ".raw(summary)", {sum.partial_auc.raw}, {json_number(v.at("raw"))}, tol);
    }
  }
  const std::pair<const char*, um::far_rule> rules[] = {
      {"at_most", um::far_rule::at_most},
      {"nearest", um::far_rule::nearest},
      {"interpolated", um::far_rule::interpolated}};
  for (const auto& [name, rule] : rules) {
    const std::string key = std::string("tar_at_far_") + name;
    const auto& from_summary = rule == um::far_rule::at_most   ? sum.at_most
                               : rule == um::far_rule::nearest ? sum.nearest
                                                               : sum.interpolated;
    const auto alone = um::tar_at_far(s, opt.far_targets, rule);
    for (const char* fld : {"tar", "threshold", "far"}) {
      std::vector<double> want, got, got_alone;
      for (std::size_t i = 0; i < target_keys.size(); ++i) {
        const json& x = e.at(key).at(target_keys[i]);
        if (!x.contains(fld)) continue;
        want.push_back(json_number(x.at(fld)));
        const std::string f = fld;
        auto pick = [&](const um::tar_at_far_result& r) {
          return f == "tar" ? r.tar : f == "threshold" ? r.threshold : r.far;
        };
        got.push_back(pick(from_summary[i]));
        got_alone.push_back(pick(alone[i]));
      }
      if (want.empty()) continue;
      rep.add(key + "." + fld, got, want, tol);
      rep.add(key + "." + fld + "(tar_at_far)", got_alone, want, tol);
    }
  }
}

/// Checks a verification case with scores of type T on the backend called `backend`.
template <class T>
void check_verification(const json& c, const std::string& backend, report& rep) {
  const auto scores_d = json_numbers(c.at("scores"));
  std::vector<T> scores(scores_d.begin(), scores_d.end());
  std::vector<int> labels = c.at("labels").get<std::vector<int>>();
  const index_t n = index_t(scores.size());
  const unitsface::vector_view<const T> sv(scores.data(), n);
  const unitsface::vector_view<const int> lv(labels.data(), index_t(labels.size()));
  const bool known = unitsface::test::with_backend(backend, [&](const auto& pol) {
#if defined(UNITSFACE_CONFORMANCE_DEVICE_METRICS)
    using policy = std::decay_t<decltype(pol)>;
    if constexpr (um::device::thrust_system_policy<policy>) {
      namespace ub = unitsface::backends;
      auto ds = ub::make_buffer<T>(pol, n);
      auto dl = ub::make_buffer<int>(pol, lv.size());
      ub::copy_from_host(pol, scores.data(), n, ub::data_ptr(ds));
      ub::copy_from_host(pol, labels.data(), lv.size(), ub::data_ptr(dl));
      const unitsface::vector_view<const T> dsv(ub::data_ptr(ds), n);
      const unitsface::vector_view<const int> dlv(ub::data_ptr(dl), lv.size());
      const um::device::roc_points<policy, T> points(pol, dsv, dlv);
      check_verification_on(c, points, rep);
      // The one-call entry point as well (it sorts again).
      const double auc_summary = um::device::summarize_verification(pol, dsv, dlv).auc;
      rep.add("auc(device::summarize_verification)", {auc_summary},
              {json_number(c.at("expected").at("auc"))}, 1e-9);
      return;
    }
#endif
    (void)pol;
    check_verification_on(c, um::sorted_scores<T>(sv, lv), rep);
  });
  if (!known) throw std::runtime_error("backend " + backend + " is not built");
}

void check_kfold(const json& c, report& rep) {
  const auto e1 = c.at("embeddings1").get<std::vector<std::vector<double>>>();
  const auto e2 = c.at("embeddings2").get<std::vector<std::vector<double>>>();
  const auto issame = c.at("issame").get<std::vector<int>>();
  const index_t n = index_t(e1.size()), d = n ? index_t(e1[0].size()) : 0;
  std::vector<double> a, b;
  for (const auto& r : e1) a.insert(a.end(), r.begin(), r.end());
  for (const auto& r : e2) b.insert(b.end(), r.begin(), r.end());
  um::kfold_options opt;
  opt.folds = c.at("folds").get<index_t>();
  opt.mode = um::kfold_mode::insightface;
  const auto r = um::kfold_accuracy(unitsface::matrix_view<const double>(a.data(), n, d),
                                    unitsface::matrix_view<const double>(b.data(), n, d),
                                    unitsface::vector_view<const int>(issame.data(), n), opt);
  const json& e = c.at("expected");
  rep.add("fold_accuracy", r.fold_accuracy, json_numbers(e.at("fold_accuracy")), 0.0);
  rep.add("accuracy_mean", {r.accuracy_mean}, {json_number(e.at("accuracy_mean"))}, 0.0);
  rep.add("accuracy_std", {r.accuracy_std}, {json_number(e.at("accuracy_std"))}, 0.0);
  rep.add("fold_best_distance_threshold", r.fold_threshold,
          json_numbers(e.at("fold_best_distance_threshold")), 0.0);
}

void check_identification(const json& c, report& rep) {
  const auto sim = c.at("similarity").get<std::vector<std::vector<double>>>();
  const auto gl = c.at("gallery_labels").get<std::vector<long long>>();
  const auto pl = c.at("probe_labels").get<std::vector<long long>>();
  const index_t P = index_t(sim.size()), G = P ? index_t(sim[0].size()) : 0;
  std::vector<double> m;
  for (const auto& r : sim) m.insert(m.end(), r.begin(), r.end());
  const json& e = c.at("expected");
  const auto want = json_numbers(e.at("cmc_rank_1_to_10"));
  const auto cmc =
      um::cmc_curve(unitsface::matrix_view<const double>(m.data(), P, G),
                    unitsface::vector_view<const long long>(pl.data(), P),
                    unitsface::vector_view<const long long>(gl.data(), G), index_t(want.size()));
  rep.add("cmc_rank_1_to_10", cmc, want, 0.0);
}

bool exactly_float(const json& scores) {
  for (const auto& x : scores) {
    const double v = json_number(x);
    if (double(float(v)) != v) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  unitsface::test::conformance_run run{UNITSFACE_METRICS_VECTORS_DIR, "host"};
  if (const int status = unitsface::test::start_conformance("conformance_metrics", argc, argv, run);
      status >= 0) {
    return status;
  }
  const std::string& backend = run.backend;
  // The runner links only host and the Thrust systems, so every built backend other than
  // host has the device verification path.
  const bool device = backend != "host";
  int passed = 0, failed = 0;
  for (const auto& path : run.files) {
    std::string name = path.filename().string(), kind = "?", note;
    report rep;
    bool ok = false;
    try {
      std::ifstream in(path);
      const json c = json::parse(in);
      name = c.value("name", name);
      kind = c.value("kind", std::string("(none)"));
      if (kind == "verification") {
        check_verification<double>(c, backend, rep);
        note = "double";
        if (exactly_float(c.at("scores"))) {
          check_verification<float>(c, backend, rep);
          note = "double+float";
        }
        note += ", " + backend;
        ok = rep.ok();
      } else if (kind == "kfold_lfw") {
        check_kfold(c, rep);
        if (device) note = "host path: k-fold has no " + backend + " implementation";
        ok = rep.ok();
      } else if (kind == "identification") {
        check_identification(c, rep);
        if (device) note = "host path: identification has no " + backend + " implementation";
        ok = rep.ok();
      } else {
        note = "unknown kind '" + kind + "'";
      }
      for (const auto& key : rep.not_compared(c.at("expected"))) {
        note += (note.empty() ? "" : ", ") + std::string("not compared: ") + key;
        ok = false;
      }
      if (rep.fields.empty()) ok = false;
    } catch (const std::exception& ex) {
      note = std::string("error: ") + ex.what();
      ok = false;
    }
    std::cout << (ok ? "PASS " : "FAIL ") << name << " (" << kind
              << (note.empty() ? "" : ", " + note) << ")\n";
    for (const auto& f : rep.fields) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "    %-44s max error %.3g  (%s %.0e)%s\n", f.name.c_str(),
                    f.error, f.checked ? "tolerance" : "informative, not checked; tol", f.tolerance,
                    f.ok() ? "" : "  <-- FAIL");
      std::cout << buf;
    }
    (ok ? passed : failed)++;
  }
  return unitsface::test::finish_conformance("conformance_metrics", run, passed, failed);
}
