// unitsface-eval's protocol subcommands (unitsface/protocols.hpp on the host policy, double):
//   ijbc       FEATURES.npy --templates T.npy --medias M.npy --pairs PAIRS.csv
//   identify   --gallery G.npy --gallery-ids GI.npy --probes P.npy --probe-ids PI.npy
//   megaface   --probes P.npy --probe-ids PI.npy --distractors D.npy
//   all-pairs  FEATURES.npy --identities I.npy
// Each prints a table and, with --json FILE, writes a report whose keys are those of the
// protocol vectors (tests/data/vectors/protocols/README.md): n_* counts, auc, eer, cmc,
// tar_at_far_at_most / verification_tar_at_far / tpir_at_fpir keyed by the target as Python
// writes it ("1e-05", "0.0001"), thresholds +inf written null.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "input_error.hpp"
#include "npy_reader.hpp"
#include "output_files.hpp"
#include "pairs_reader.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/protocols.hpp"

namespace unitsface::eval {

struct protocol_args {
  std::string features, templates, medias, pairs, gallery, gallery_ids, probes, probe_ids,
      distractors, identities, json_path;
  index_t max_rank = 10;
  std::vector<double> targets;  ///< FAR (FPIR for identify) targets; empty: the protocol's
  index_t bins = 0;             ///< all-pairs: > 0 goes through a histogram of that many bins
  std::string histogram_path;   ///< all-pairs with bins: where to save the histogram blob
};

/// The four subcommands, added to `app`; the chosen one is the app's parsed subcommand.
inline void add_protocol_subcommands(CLI::App& app, protocol_args& a) {
  auto json_opt = [&](CLI::App* s) {
    s->add_option("--json", a.json_path, "Write the JSON report (the protocol vectors' keys)");
  };
  auto targets = [&](CLI::App* s, const char* name, const char* what) {
    s->add_option(name, a.targets, what)->delimiter(',')->check(CLI::Range(0.0, 1.0));
  };
  auto input = [](CLI::App* s, const char* name, std::string& file, const char* what) {
    s->add_option(name, file, what)->required()->check(CLI::ExistingFile);
  };
  auto max_rank = [&](CLI::App* s) {
    s->add_option("--max-rank", a.max_rank, "Last rank of the CMC")
        ->check(CLI::Range(index_t(1), index_t(1000)))
        ->capture_default_str();
  };
  CLI::App* ijbc = app.add_subcommand(
      "ijbc",
      "IJB-C 1:1: image features pooled into templates (media mean, template sum, L2 "
      "normalised: insightface's plain path), template pairs scored by cosine");
  input(ijbc, "features", a.features, "Image features: a 2-D float32/float64 .npy");
  input(ijbc, "--templates", a.templates, "Template id of each row: an integer .npy");
  input(ijbc, "--medias", a.medias, "Media id of each row: an integer .npy");
  input(ijbc, "--pairs", a.pairs,
        "Template pairs: a CSV 'first,second,label' of template ids, label 1 = same "
        "identity");
  targets(ijbc, "--far", "FAR targets, comma-separated (default 1e-6,...,1e-1)");
  json_opt(ijbc);

  CLI::App* ident = app.add_subcommand(
      "identify",
      "Open-set 1:N (IJB-C 1:N): identity ranks (an identity's score is its best row), CMC over "
      "the mated probes, TPIR at FPIR");
  input(ident, "--gallery", a.gallery, "Gallery features: a 2-D .npy");
  input(ident, "--gallery-ids", a.gallery_ids, "Identity of each gallery row: integer .npy");
  input(ident, "--probes", a.probes, "Probe features: a 2-D .npy");
  input(ident, "--probe-ids", a.probe_ids, "Identity of each probe: integer .npy");
  max_rank(ident);
  targets(ident, "--fpir", "FPIR targets, comma-separated (default 0.01,0.1)");
  json_opt(ident);

  CLI::App* mega = app.add_subcommand(
      "megaface",
      "MegaFace Challenge 1, one mate at a time: rank of every ordered probe pair against the "
      "distractors, rank-1 and CMC; verification AUC, EER, TAR at FAR (probe pairs vs "
      "distractors)");
  input(mega, "--probes", a.probes, "Probe features: a 2-D .npy");
  input(mega, "--probe-ids", a.probe_ids, "Identity of each probe: integer .npy");
  input(mega, "--distractors", a.distractors, "Distractor features: a 2-D .npy");
  max_rank(mega);
  targets(mega, "--far", "FAR targets, comma-separated (default 1e-6,...,1e-3)");
  json_opt(mega);

  CLI::App* all = app.add_subcommand(
      "all-pairs",
      "MFR-style all-pairs verification: every pair i < j, genuine when the identities agree; "
      "memory O(genuine pairs), never the N(N-1)/2 scores");
  input(all, "features", a.features, "Features: a 2-D .npy");
  input(all, "--identities", a.identities, "Identity of each row: integer .npy");
  targets(all, "--far", "FAR targets, comma-separated (default 1e-6,...,1e-2)");
  all->add_option("--bins", a.bins,
                  "Go through a histogram of this many bins over [-1, 1] instead of keeping the "
                  "genuine scores (memory O(bins) for sets with very many genuine pairs): AUC "
                  "and EER within one bin, TAR at FAR still exact (a second pass)")
      ->check(CLI::Range(index_t(1), index_t(1) << 26));
  all->add_option("--save-histogram", a.histogram_path,
                  "With --bins: write the histogram as a binary blob "
                  "(metrics::score_histogram::save; load() reads it, merge() adds another)");
  json_opt(all);
}

namespace protocol_detail {

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path + ": cannot open");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline npy_matrix matrix(const std::string& path) {
  return read_npy_matrix(read_bytes(path), path);
}

inline std::vector<std::int64_t> ids(const std::string& path, std::uint64_t rows,
                                     const std::string& rows_of) {
  auto v = read_npy_identities(read_bytes(path), path);
  if (v.size() != rows) {
    throw input_error(path + ": " + std::to_string(v.size()) + " ids for the " +
                      std::to_string(rows) + " rows of " + rows_of);
  }
  return v;  // negative ids: refused by the protocol, naming the argument (this file)
}

inline matrix_view<const double> view(const npy_matrix& m) {
  return matrix_view<const double>(m.data.data(), index_t(m.rows), index_t(m.cols));
}
inline vector_view<const std::int64_t> view(const std::vector<std::int64_t>& v) {
  return vector_view<const std::int64_t>(v.data(), index_t(v.size()));
}

/// The key Python's str gives a float target ("1e-05", "0.0001", "0.1").
inline std::string key(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", t);
  return buf;
}

inline nlohmann::json number(double v) {
  return std::isinf(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

inline nlohmann::json rates(const std::vector<metrics::tar_at_far_result>& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& x : r)
    j[key(x.target)] = {{"tar", x.tar}, {"threshold", number(x.threshold)}, {"far", x.far}};
  return j;
}

/// One line per target, smallest first: `rate` and `far` are the report's keys ("tar", "far";
/// "tpir", "fpir").
inline std::string table_rates(const nlohmann::json& j, const char* rate, const char* far) {
  std::vector<std::pair<double, std::string>> keys;
  for (const auto& item : j.items()) keys.emplace_back(std::stod(item.key()), item.key());
  std::sort(keys.begin(), keys.end());
  std::ostringstream out;
  for (const auto& [target, k] : keys) {
    const auto& v = j.at(k);
    const std::string thr = v.at("threshold").is_null()
                                ? std::string("inf")
                                : std::to_string(v.at("threshold").get<double>());
    char buf[160];
    std::snprintf(buf, sizeof buf, "  at %-8s %s %.6f  threshold %s  %s %.3e\n", k.c_str(), rate,
                  v.at(rate).get<double>(), thr.c_str(), far, v.at(far).get<double>());
    out << buf;
  }
  return out.str();
}

}  // namespace protocol_detail

/// Runs the parsed subcommand `name`: 0 success, 2 malformed input, 1 an unwritable output.
inline int run_protocol(const std::string& name, const protocol_args& a) {
  namespace pd = protocol_detail;
  namespace up = unitsface::protocols;
  const host_policy pol;
  nlohmann::json report = {{"protocol", name}};
  std::vector<output_file> extra;  // files other than the report
  std::ostringstream table;
  std::string input;
  try {
    if (name == "ijbc") {
      input = a.features;
      const auto f = pd::matrix(a.features);
      const auto t = pd::ids(a.templates, f.rows, a.features);
      const auto m = pd::ids(a.medias, f.rows, a.features);
      std::ifstream in(a.pairs, std::ios::binary);
      if (!in) throw input_error(a.pairs + ": cannot open");
      const pair_list p = read_pairs_csv(in, a.pairs, 0, {}, true);
      std::vector<std::int64_t> first(p.first.begin(), p.first.end()),
          second(p.second.begin(), p.second.end());
      metrics::verification_options o;
      if (!a.targets.empty()) o.far_targets = a.targets;
      const auto r = up::ijbc_1to1<double>(
          pol, pd::view(f), pd::view(t), pd::view(m), pd::view(first), pd::view(second),
          vector_view<const std::uint8_t>(p.labels.data(), index_t(p.labels.size())), o);
      report["n_templates"] = r.pooled.ids.size();
      report["n_pairs"] = r.scores.size();
      report["auc"] = r.summary.auc;
      report["eer"] = r.summary.eer.eer;
      report["tar_at_far_at_most"] = pd::rates(r.summary.at_most);
      table << "IJB-C 1:1: " << r.pooled.ids.size() << " templates, " << r.scores.size()
            << " pairs\n  AUC " << r.summary.auc << "  EER " << r.summary.eer.eer << "\n"
            << pd::table_rates(report["tar_at_far_at_most"], "tar", "far");
    } else if (name == "identify") {
      input = a.gallery + " / " + a.probes;
      const auto g = pd::matrix(a.gallery);
      const auto gi = pd::ids(a.gallery_ids, g.rows, a.gallery);
      const auto p = pd::matrix(a.probes);
      const auto pi = pd::ids(a.probe_ids, p.rows, a.probes);
      up::open_set_options o;
      o.max_rank = a.max_rank;
      if (!a.targets.empty()) o.fpir_targets = a.targets;
      const auto r = up::identification_1toN<double>(pol, pd::view(g), pd::view(gi), pd::view(p),
                                                     pd::view(pi), o);
      report["n_mated"] = r.mated;
      report["n_nonmated"] = r.nonmated;
      report["cmc"] = r.cmc;
      report["cmc_all_probes"] = r.cmc_all_probes;
      nlohmann::json t = nlohmann::json::object();
      for (const auto& x : r.tpir_at_fpir)
        t[pd::key(x.target)] = {
            {"tpir", x.tpir}, {"threshold", pd::number(x.threshold)}, {"fpir", x.fpir}};
      report["tpir_at_fpir"] = t;
      table << "Open-set 1:N: " << r.mated << " mated, " << r.nonmated
            << " non-mated probes\n  rank-1 " << r.cmc.front() << "  rank-" << r.cmc.size() << " "
            << r.cmc.back() << " (over mated probes)\n"
            << pd::table_rates(t, "tpir", "fpir");
    } else if (name == "megaface") {
      input = a.probes + " / " + a.distractors;
      const auto p = pd::matrix(a.probes);
      const auto pi = pd::ids(a.probe_ids, p.rows, a.probes);
      const auto d = pd::matrix(a.distractors);
      up::megaface_options o;
      o.max_rank = a.max_rank;
      if (!a.targets.empty()) o.far_targets = a.targets;
      const auto r =
          up::megaface_single_mate<double>(pol, pd::view(p), pd::view(pi), pd::view(d), o);
      report["n_probe_mate_pairs"] = r.probe_mate_pairs;
      report["rank1"] = r.rank1;
      report["cmc"] = r.cmc;
      report["n_genuine"] = r.verification.genuine;
      report["n_impostor"] = r.verification.impostor;
      report["verification_auc"] = r.verification.auc;
      report["verification_eer"] = r.verification.eer.eer;
      report["verification_tar_at_far"] = pd::rates(r.verification.at_most);
      table << "MegaFace single mate: " << r.probe_mate_pairs << " probe-mate pairs, " << d.rows
            << " distractors\n  rank-1 " << r.rank1 << "\n"
            << pd::table_rates(report["verification_tar_at_far"], "tar", "far");
    } else {
      input = a.features;
      const auto f = pd::matrix(a.features);
      const auto ids = pd::ids(a.identities, f.rows, a.features);
      up::all_pairs_options o;
      if (!a.targets.empty()) o.far_targets = a.targets;
      metrics::corner_summary r;
      if (a.bins > 0) {
        auto h = up::all_pairs_histogram<double>(pol, pd::view(f), pd::view(ids), o, a.bins);
        r.genuine = h.histogram.genuine_total();
        r.impostor = h.histogram.impostor_total();
        r.auc = h.auc;
        r.eer = h.eer;
        r.at_most = h.at_most;
        report["bins"] = a.bins;
        if (!a.histogram_path.empty()) {
          std::ostringstream blob;
          h.histogram.save(blob);
          extra.push_back({a.histogram_path, blob.str()});
        }
      } else {
        if (!a.histogram_path.empty()) {
          throw input_error("--save-histogram needs --bins (the exact path keeps no histogram)");
        }
        r = up::all_pairs<double>(pol, pd::view(f), pd::view(ids), o);
      }
      report["n_genuine"] = r.genuine;
      report["n_impostor"] = r.impostor;
      report["auc"] = r.auc;
      report["eer"] = r.eer.eer;
      report["tar_at_far_at_most"] = pd::rates(r.at_most);
      table << "All pairs: " << r.genuine << " genuine, " << r.impostor << " impostor"
            << (a.bins > 0 ? " (through " + std::to_string(a.bins) + " bins)" : std::string())
            << "\n  AUC " << r.auc << "  EER " << r.eer.eer << "\n"
            << pd::table_rates(report["tar_at_far_at_most"], "tar", "far");
    }
  } catch (const input_error& err) {
    std::cerr << "unitsface-eval: error: " << err.what() << "\n";
    return 2;
  } catch (const unitsface::invalid_argument& err) {
    // The file behind the argument the library names.
    const std::string arg(err.argument());
    const std::string file = arg == "features"                                    ? a.features
                             : arg == "gallery"                                   ? a.gallery
                             : arg == "probes"                                    ? a.probes
                             : arg == "distractors"                               ? a.distractors
                             : arg.rfind("pairs", 0) == 0 || arg == "pair_labels" ? a.pairs
                             : arg == "template_ids"                              ? a.templates
                             : arg == "media_ids"                                 ? a.medias
                             : arg == "gallery_labels"                            ? a.gallery_ids
                             : arg == "probe_labels"                              ? a.probe_ids
                             : arg == "labels"                                    ? a.identities
                                                                                  : input;
    std::cerr << "unitsface-eval: error: " << file << ": " << err.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "unitsface-eval: error: " << input << ": out of memory\n";
    return 1;
  }
  if (!a.json_path.empty()) extra.push_back({a.json_path, report.dump(2) + "\n"});
  if (!extra.empty()) {
    try {
      write_all(extra);
    } catch (const output_error& err) {
      std::cerr << "unitsface-eval: error: " << err.what() << "\n";
      return 1;
    }
  }
  std::cout << table.str();
  return 0;
}

}  // namespace unitsface::eval
