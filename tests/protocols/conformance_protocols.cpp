// conformance_protocols: checks unitsface's benchmark protocols against reference vectors.
//
//   conformance_protocols [FOLDER] [--backend NAME] [--expect-cases N]
//
// Reads every *.json case of FOLDER (default: the project's tests/data/vectors/protocols, as
// found at configure time), runs it through unitsface/protocols.hpp with the similarities
// computed on the backend called NAME (default host; `--help` lists the built ones), prints
// each case's max error per field and a closing line "N passed, M failed", and exits non-zero
// when a case fails, has an unknown kind, when no case is found, or (with --expect-cases) when
// the folder does not hold N cases. A case fails when a field of its `expected` was not
// compared. Error of a field = max |got - expected| over its elements ("inf" must be +inf);
// tolerances as the vectors' README gives them: ids and counts exact; template features,
// scores and thresholds 1e-12 (float64 cases) or 1e-5 (float32); AUC and EER 1e-9; ratios of
// counts (CMC, TAR, FAR, TPIR, FPIR, rank-1) 1e-12.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend_registry.hpp"
#include "conformance_run.hpp"
#include "unitsface/protocols.hpp"
#if defined(UNITSFACE_WITH_SIMULATED_DEVICE) || defined(UNITSFACE_WITH_CUDA)
// all_pairs counts the tiles of a device policy on the device
#include "unitsface/protocols/all_pairs_device.hpp"
#endif

#ifndef UNITSFACE_PROTOCOLS_VECTORS_DIR
#define UNITSFACE_PROTOCOLS_VECTORS_DIR "tests/data/vectors/protocols"
#endif

using json = nlohmann::json;
namespace up = unitsface::protocols;
using unitsface::index_t;

namespace {

using unitsface::test::json_number;
using unitsface::test::json_numbers;

/// A matrix given as a list of rows, flattened row-major.
struct matrix {
  std::vector<double> v;
  index_t rows = 0, cols = 0;
  explicit matrix(const json& j) {
    rows = index_t(j.size());
    cols = rows ? index_t(j.at(0).size()) : 0;
    for (const auto& r : j) {
      if (index_t(r.size()) != cols) throw std::runtime_error("ragged matrix in the case");
      for (const auto& x : r) v.push_back(json_number(x));
    }
  }
  unitsface::matrix_view<const double> view() const {
    return unitsface::matrix_view<const double>(v.data(), rows, cols);
  }
};

struct field {
  std::string name;
  double error = 0;
  double tolerance = 0;
  bool ok() const { return error <= tolerance; }
};

struct report {
  std::vector<field> fields;
  void add(const std::string& name, const std::vector<double>& got, const std::vector<double>& want,
           double tol) {
    double e = got.size() == want.size() ? 0.0 : HUGE_VAL;
    for (std::size_t i = 0; i < got.size() && i < want.size(); ++i) {
      const double d =
          (std::isinf(got[i]) || std::isinf(want[i]))
              ? (got[i] == want[i] ? 0.0 : HUGE_VAL)
              : (std::isnan(got[i]) || std::isnan(want[i]) ? HUGE_VAL : std::abs(got[i] - want[i]));
      e = std::max(e, d);
    }
    fields.push_back({name, e, tol});
  }
  void add(const std::string& name, double got, double want, double tol) {
    add(name, std::vector<double>{got}, std::vector<double>{want}, tol);
  }
  bool ok() const {
    return std::all_of(fields.begin(), fields.end(), [](const field& f) { return f.ok(); });
  }
  /// The keys of `expected` no field compared (a field `key` or `key.<part>` compares `key`).
  std::vector<std::string> not_compared(const json& expected) const {
    std::vector<std::string> missing;
    for (const auto& item : expected.items()) {
      const std::string key = item.key();
      const bool found = std::any_of(fields.begin(), fields.end(), [&](const field& f) {
        return f.name == key || f.name.rfind(key + ".", 0) == 0;
      });
      if (!found) missing.push_back(key);
    }
    return missing;
  }
};

/// The vectors key FAR targets as Python's str writes the float ("1e-05", "0.0001", "0.01").
std::vector<std::pair<std::string, double>> targets_of(const json& keyed) {
  std::vector<std::pair<std::string, double>> t;
  for (const auto& item : keyed.items()) t.emplace_back(item.key(), std::stod(item.key()));
  std::sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return t;
}

template <class R>
void add_rates(report& rep, const std::string& key, const json& want_all,
               const std::vector<std::pair<std::string, double>>& targets,
               const std::vector<R>& got, double value_of_rate(const R&),
               double value_of_rate_far(const R&), double thr_tol, const char* rate_name,
               const char* far_name) {
  for (std::size_t k = 0; k < targets.size(); ++k) {
    const json& w = want_all.at(targets[k].first);
    const std::string p = key + "." + targets[k].first + ".";
    rep.add(p + rate_name, value_of_rate(got[k]), json_number(w.at(rate_name)), 1e-12);
    rep.add(p + "threshold", got[k].threshold, json_number(w.at("threshold")), thr_tol);
    rep.add(p + far_name, value_of_rate_far(got[k]), json_number(w.at(far_name)), 1e-12);
  }
}

double tar_of(const unitsface::metrics::tar_at_far_result& r) {
  return r.tar;
}
double far_of(const unitsface::metrics::tar_at_far_result& r) {
  return r.far;
}
double tpir_of(const up::tpir_at_fpir_point& r) {
  return r.tpir;
}
double fpir_of(const up::tpir_at_fpir_point& r) {
  return r.fpir;
}

std::vector<double> target_values(const std::vector<std::pair<std::string, double>>& t) {
  std::vector<double> v;
  for (const auto& x : t) v.push_back(x.second);
  return v;
}

template <class T, class Policy>
void check_case(const json& c, const Policy& pol, report& rep) {
  const std::string kind = c.at("kind");
  const json& e = c.at("expected");
  const double thr_tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  if (kind == "ijbc_1to1") {
    const matrix f(c.at("features"));
    const auto templ = c.at("templates").get<std::vector<long long>>();
    const auto media = c.at("medias").get<std::vector<long long>>();
    std::vector<long long> a, b;
    for (const auto& p : c.at("pairs")) {
      a.push_back(p.at(0).get<long long>());
      b.push_back(p.at(1).get<long long>());
    }
    const auto lab = c.at("pair_labels").get<std::vector<int>>();
    const auto targets = targets_of(e.at("tar_at_far_at_most"));
    unitsface::metrics::verification_options opt;
    opt.far_targets = target_values(targets);
    const auto r = up::ijbc_1to1<T>(
        pol, f.view(), unitsface::vector_view<const long long>(templ.data(), index_t(templ.size())),
        unitsface::vector_view<const long long>(media.data(), index_t(media.size())),
        unitsface::vector_view<const long long>(a.data(), index_t(a.size())),
        unitsface::vector_view<const long long>(b.data(), index_t(b.size())),
        unitsface::vector_view<const int>(lab.data(), index_t(lab.size())), opt);
    const auto want_ids = e.at("template_ids").get<std::vector<long long>>();
    rep.add("template_ids", std::vector<double>(r.pooled.ids.begin(), r.pooled.ids.end()),
            std::vector<double>(want_ids.begin(), want_ids.end()), 0.0);
    rep.add("template_features", r.pooled.features, matrix(e.at("template_features")).v, thr_tol);
    rep.add("scores", r.scores, json_numbers(e.at("scores")), thr_tol);
    rep.add("auc", r.summary.auc, json_number(e.at("auc")), 1e-9);
    add_rates(rep, "tar_at_far_at_most", e.at("tar_at_far_at_most"), targets, r.summary.at_most,
              tar_of, far_of, thr_tol, "tar", "far");
  } else if (kind == "identification_1toN") {
    const matrix g(c.at("gallery")), p(c.at("probes"));
    const auto gl = c.at("gallery_labels").get<std::vector<long long>>();
    const auto pl = c.at("probe_labels").get<std::vector<long long>>();
    const auto targets = targets_of(e.at("tpir_at_fpir"));
    up::open_set_options opt;
    opt.max_rank = index_t(e.at("cmc").size());
    opt.fpir_targets = target_values(targets);
    opt.tiles = {7, 33};  // several tiles in both directions, ragged at the ends
    const auto r = up::identification_1toN<T>(
        pol, g.view(), unitsface::vector_view<const long long>(gl.data(), index_t(gl.size())),
        p.view(), unitsface::vector_view<const long long>(pl.data(), index_t(pl.size())), opt);
    rep.add("n_mated", double(r.mated), json_number(e.at("n_mated")), 0.0);
    rep.add("n_nonmated", double(r.nonmated), json_number(e.at("n_nonmated")), 0.0);
    rep.add("cmc", r.cmc, json_numbers(e.at("cmc")), 1e-12);
    rep.add("cmc_all_probes", r.cmc_all_probes, json_numbers(e.at("cmc_all_probes")), 1e-12);
    add_rates(rep, "tpir_at_fpir", e.at("tpir_at_fpir"), targets, r.tpir_at_fpir, tpir_of, fpir_of,
              thr_tol, "tpir", "fpir");
  } else if (kind == "megaface_single_mate") {
    const matrix p(c.at("probe_features")), d(c.at("distractors"));
    const auto pl = c.at("probe_labels").get<std::vector<long long>>();
    const auto targets = targets_of(e.at("verification_tar_at_far"));
    up::megaface_options opt;
    opt.max_rank = index_t(e.at("cmc").size());
    opt.far_targets = target_values(targets);
    opt.tiles = {16, 300};
    const auto r = up::megaface_single_mate<T>(
        pol, p.view(), unitsface::vector_view<const long long>(pl.data(), index_t(pl.size())),
        d.view(), opt);
    rep.add("n_probe_mate_pairs", double(r.probe_mate_pairs),
            json_number(e.at("n_probe_mate_pairs")), 0.0);
    rep.add("rank1", r.rank1, json_number(e.at("rank1")), 1e-12);
    rep.add("cmc", r.cmc, json_numbers(e.at("cmc")), 1e-12);
    rep.add("n_genuine", double(r.verification.genuine), json_number(e.at("n_genuine")), 0.0);
    rep.add("n_impostor", double(r.verification.impostor), json_number(e.at("n_impostor")), 0.0);
    add_rates(rep, "verification_tar_at_far", e.at("verification_tar_at_far"), targets,
              r.verification.at_most, tar_of, far_of, thr_tol, "tar", "far");
  } else if (kind == "all_pairs") {
    const matrix f(c.at("features"));
    const auto lab = c.at("labels").get<std::vector<long long>>();
    const auto targets = targets_of(e.at("tar_at_far_at_most"));
    up::all_pairs_options opt;
    opt.far_targets = target_values(targets);
    opt.tiles = {200, 300};
    const auto r = up::all_pairs<T>(
        pol, f.view(), unitsface::vector_view<const long long>(lab.data(), index_t(lab.size())),
        opt);
    rep.add("n_genuine", double(r.genuine), json_number(e.at("n_genuine")), 0.0);
    rep.add("n_impostor", double(r.impostor), json_number(e.at("n_impostor")), 0.0);
    rep.add("auc", r.auc, json_number(e.at("auc")), 1e-9);
    rep.add("eer", r.eer.eer, json_number(e.at("eer")), 1e-9);
    add_rates(rep, "tar_at_far_at_most", e.at("tar_at_far_at_most"), targets, r.at_most, tar_of,
              far_of, thr_tol, "tar", "far");
  } else {
    throw std::runtime_error("unknown kind '" + kind + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  unitsface::test::conformance_run run{UNITSFACE_PROTOCOLS_VECTORS_DIR, "host"};
  if (const int status =
          unitsface::test::start_conformance("conformance_protocols", argc, argv, run);
      status >= 0) {
    return status;
  }
  const std::string& backend = run.backend;
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
      const std::string dtype = c.value("dtype", std::string("float64"));
      unitsface::test::with_backend(backend, [&](const auto& pol) {
        if (dtype == "float32") {
          check_case<float>(c, pol, rep);
        } else {
          check_case<double>(c, pol, rep);
        }
      });
      note = dtype + ", " + backend;
      ok = rep.ok() && !rep.fields.empty();
      for (const auto& key : rep.not_compared(c.at("expected"))) {
        note += ", not compared: " + key;
        ok = false;
      }
    } catch (const std::exception& ex) {
      note = std::string("error: ") + ex.what();
      ok = false;
    }
    std::cout << (ok ? "PASS " : "FAIL ") << name << " (" << kind << ", " << note << ")\n";
    for (const auto& f : rep.fields) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "    %-44s max error %.3g  (tolerance %.0e)%s\n",
                    f.name.c_str(), f.error, f.tolerance, f.ok() ? "" : "  <-- FAIL");
      std::cout << buf;
    }
    (ok ? passed : failed)++;
  }
  return unitsface::test::finish_conformance("conformance_protocols", run, passed, failed);
}
