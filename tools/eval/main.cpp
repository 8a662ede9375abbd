// unitsface-eval: evaluates verification scores (CSV, or .npy scores and labels), or embeddings
// (.npy) with a pair list or with identity labels, with the unitsface metrics: a table on
// stdout, and optionally a JSON report, the ROC curve as CSV and ROC / DET plots as SVG. Exit
// status: 0 success, 2 malformed input or usage, 1 an output file that cannot be written. Nothing
// is written until the whole input has been read and checked.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "csv_reader.hpp"
#include "embedding_scores.hpp"
#include "evaluation.hpp"
#include "input_error.hpp"
#include "npy_reader.hpp"
#include "output_files.hpp"
#include "pairs_reader.hpp"
#include "plots.hpp"
#include "progress.hpp"
#include "protocols_cli.hpp"
#include "report.hpp"
#include "unitsface/core/error.hpp"

namespace ue = unitsface::eval;
namespace um = unitsface::metrics;

namespace {

/// The CMC of identity-labelled embeddings goes to rank 10 (the table shows ranks 1 and 5).
constexpr unitsface::index_t max_rank = 10;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ue::input_error(path + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ue::input_error(path + ": read error");
  return bytes;
}

bool starts_like_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[6] = {};
  in.read(magic, 6);
  return in.gcount() == 6 && std::string(magic, 6) == std::string("\x93NUMPY", 6);
}

/// What the input gives the evaluation: the scored pairs, and for embeddings their shape and
/// (identity labels) the leave-one-out identification.
struct input_data {
  ue::score_set scores;
  std::uint64_t rows = 0, dims = 0;
  bool identification = false;
  ue::identification_summary ident;
};

/// Embeddings with a pair list (`pairs`) or with identity labels (`identities`).
input_data read_embeddings(const std::string& path, const std::string& pairs,
                           const std::string& identities, std::uint64_t max_pairs) {
  if (!starts_like_npy(path)) {
    throw ue::input_error(path + ": not a .npy file (embeddings are a 2-D float32/float64 .npy)");
  }
  input_data d;
  ue::npy_matrix m = ue::read_npy_matrix(read_file(path), path);
  ue::normalise_rows(m, path);
  d.rows = m.rows;
  d.dims = m.cols;
  if (!pairs.empty()) {
    std::ifstream in(pairs, std::ios::binary);
    if (!in) throw ue::input_error(pairs + ": cannot open");
    d.scores = ue::score_pairs(m, ue::read_pairs_csv(in, pairs, m.rows), path + " with " + pairs);
    return d;
  }
  const auto ids = ue::read_npy_identities(read_file(identities), identities);
  ue::require_identity_count(m, ids, path, identities);
  // Long work (more than about 10^10 multiply-adds) shows a bar on a terminal.
  ue::progress_bar bar("scoring", m.rows, double(m.rows) * double(m.rows) * double(m.cols) > 1e10);
  d.scores =
      ue::score_all_pairs(m, ids, path + " with " + identities, max_pairs, max_rank, d.ident,
                          [&](std::uint64_t done, std::uint64_t) { bar.update(done, done); });
  bar.finish();
  d.identification = true;
  return d;
}

ue::score_set read_input(const std::string& scores, const std::string& labels) {
  if (starts_like_npy(scores)) {
    if (labels.empty()) {
      throw ue::input_error(scores + ": a .npy score file needs its labels: --labels FILE.npy");
    }
    return ue::read_npy_pair(read_file(scores), scores, read_file(labels), labels);
  }
  if (!labels.empty()) {
    throw ue::input_error(scores + ": --labels goes with .npy scores; a CSV holds its labels");
  }
  std::ifstream in(scores, std::ios::binary);
  if (!in) throw ue::input_error(scores + ": cannot open");
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  in.seekg(0);
  ue::progress_bar bar(size > 0 ? std::uint64_t(size) : 0);
  auto s = ue::read_csv(
      in, scores, [&](std::uint64_t lines, std::uint64_t bytes) { bar.update(lines, bytes); });
  bar.finish();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "unitsface-eval: verification metrics of scored pairs, or of embeddings.\n"
      "Reads a CSV with a header line 'score,label' (label 1 = genuine, 0 = impostor), or a\n"
      ".npy file of float32/float64 scores with --labels, a .npy file of bool/integer labels;\n"
      "or a 2-D .npy file of embeddings (one per row, float32/float64) with --pairs (a CSV\n"
      "'first,second,label' of 0-based rows) or with --identities (a .npy file of integer\n"
      "identity labels: every pair i < j is scored, and each image is also a probe against all\n"
      "the others). Embeddings are L2-normalised and pairs scored by cosine similarity.\n"
      "Prints AUC, EER, k-fold accuracy, TAR at FAR 1e-6 ... 1e-1 (a pair is accepted when\n"
      "score >= threshold) and, with --identities, rank-1 and rank-5 identification.\n"
      "Exit status: 0 success, 2 malformed input or bad usage, 1 an output that cannot be\n"
      "written. Outputs are written only once the whole input has been checked.",
      "unitsface-eval"};
  std::string scores, labels, json_path, roc_path, det_path, roc_csv_path, title;
  std::string rule = "at_most", kfold_mode = "exact", pairs, identities;
  unitsface::index_t folds = 10;
  std::uint64_t max_pairs = 200'000'000;
  app.add_option("input", scores,
                 "Scores: a CSV file (score,label), or a .npy file of scores; with --pairs or "
                 "--identities, a 2-D .npy file of embeddings (required without a subcommand)")
      ->check(CLI::ExistingFile);
  ue::protocol_args protocol;
  ue::add_protocol_subcommands(app, protocol);
  app.require_subcommand(0, 1);
  auto* pairs_opt =
      app.add_option("--pairs", pairs,
                     "Score the pairs of this CSV file (header 'first,second,label'; rows are "
                     "0-based indices into the embeddings; label 1 = same identity), in file "
                     "order: LFW / CFP-FP / AgeDB pair lists")
          ->check(CLI::ExistingFile);
  app.add_option("--identities", identities,
                 "Score every pair of the embeddings, genuine when these identity labels (a "
                 ".npy file of integers, one per row) agree; also reports leave-one-out rank-1 "
                 "and rank-5 identification over the images whose identity has another image")
      ->check(CLI::ExistingFile)
      ->excludes(pairs_opt);
  app.add_option("--folds", folds,
                 "Folds of the k-fold accuracy (the LFW protocol: contiguous folds in input "
                 "order, the best threshold of the other folds applied to each); 0 skips it")
      ->check(CLI::Range(unitsface::index_t(0), unitsface::index_t(1) << 40))
      ->capture_default_str();
  app.add_option("--kfold-mode", kfold_mode,
                 "k-fold thresholds: exact (every distinct similarity) or insightface (squared "
                 "distance 2 - 2 cos on insightface's grid 0, 0.01, ..., 3.99)")
      ->check(CLI::IsMember({"exact", "insightface"}))
      ->capture_default_str();
  app.add_option("--max-pairs", max_pairs,
                 "With --identities: refuse sets with more pairs than this (each pair costs 9 "
                 "bytes of memory)")
      ->capture_default_str();
  app.add_option("--labels", labels,
                 "The .npy file of labels (bool or integer, 0/1) for .npy scores")
      ->check(CLI::ExistingFile);
  app.add_option("--rule", rule,
                 "TAR@FAR rule: at_most (largest TAR with FAR <= target), nearest (insightface's "
                 "IJB-C rule: the operating point with FAR nearest the target), interpolated "
                 "(TAR interpolated linearly over FAR)")
      ->check(CLI::IsMember({"at_most", "nearest", "interpolated"}))
      ->capture_default_str();
  app.add_option("--json", json_path,
                 "Write a JSON report: n_genuine, n_impostor, auc, partial_auc, eer, "
                 "eer_threshold, rule, tar_at_far (list), roc_log_far (at-most TAR on a log FAR "
                 "grid); an infinite threshold is written null");
  app.add_option("--roc", roc_path, "Write the ROC plot (TAR vs FAR, log FAR axis) as SVG");
  app.add_option("--det", det_path, "Write the DET plot (FRR vs FAR, log-log axes) as SVG");
  app.add_option("--roc-csv", roc_csv_path,
                 "Write the ROC curve as CSV (threshold,far,tar; drop_intermediate points, the "
                 "first at threshold inf)");
  app.add_option("--title", title, "Title of the plots (default: the score file's name)");
  app.set_version_flag("--version", "unitsface-eval 0.1.0");
  app.footer(
      "Examples:\n"
      "  unitsface-eval scores.csv --json report.json\n"
      "  unitsface-eval s.npy --labels l.npy --rule nearest --roc roc.svg --det det.svg\n"
      "  unitsface-eval embeddings.npy --pairs pairs.csv --kfold-mode insightface\n"
      "  unitsface-eval embeddings.npy --identities ids.npy --json report.json\n"
      "  unitsface-eval ijbc feats.npy --templates t.npy --medias m.npy --pairs pairs.csv\n"
      "  unitsface-eval identify --gallery g.npy --gallery-ids gi.npy --probes p.npy "
      "--probe-ids pi.npy\n"
      "  unitsface-eval megaface --probes p.npy --probe-ids pi.npy --distractors d.npy\n"
      "  unitsface-eval all-pairs feats.npy --identities ids.npy --json report.json\n"
      "Subcommands: unitsface-eval SUBCOMMAND --help. Documentation: docs/eval.md, "
      "docs/protocols.md");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors share status 2 with malformed input: both mean "fix what you passed".
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (const auto subs = app.get_subcommands(); !subs.empty()) {
    return ue::run_protocol(subs.front()->get_name(), protocol);
  }
  if (scores.empty()) {
    std::cerr << "unitsface-eval: error: an input file (or a subcommand) is required; "
                 "see --help\n";
    return 2;
  }

  if (folds == 1) {
    std::cerr << "unitsface-eval: error: --folds 1 leaves no pair to choose a threshold on; "
                 "give 0 (skip) or at least 2\n";
    return 2;
  }
  const um::far_rule r = rule == "nearest"        ? um::far_rule::nearest
                         : rule == "interpolated" ? um::far_rule::interpolated
                                                  : um::far_rule::at_most;
  const um::kfold_options kf{
      folds, kfold_mode == "insightface" ? um::kfold_mode::insightface : um::kfold_mode::exact};
  const bool embeddings = !pairs.empty() || !identities.empty();
  const std::string second = !labels.empty() ? labels : !pairs.empty() ? pairs : identities;
  const std::string input = second.empty() ? scores : scores + " with " + second;
  ue::evaluation e;
  try {
    if (embeddings && !labels.empty()) {
      throw ue::input_error(labels +
                            ": --labels goes with scores; embeddings take --pairs or --identities");
    }
    input_data d;
    if (embeddings) {
      d = read_embeddings(scores, pairs, identities, max_pairs);
    } else {
      d.scores = read_input(scores, labels);
    }
    e = ue::evaluate(d.scores, input, r,
                     !json_path.empty() || !roc_path.empty() || !det_path.empty(),
                     !roc_csv_path.empty(), kf);
    e.embeddings = d.rows;
    e.dimensions = d.dims;
    e.has_identification = d.identification;
    e.identification = d.ident;
  } catch (const ue::input_error& err) {
    std::cerr << "unitsface-eval: error: " << err.what() << "\n";
    return 2;
  } catch (const unitsface::invalid_argument& err) {
    // The readers check everything the metrics check, so this is a reader that let bad input
    // through; it is still malformed input, reported as such.
    std::cerr << "unitsface-eval: error: " << input << ": " << err.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "unitsface-eval: error: " << input << ": out of memory\n";
    return 1;
  }

  std::vector<ue::output_file> outputs;
  if (!json_path.empty()) outputs.push_back({json_path, ue::json_report(e).dump(2) + "\n"});
  if (!roc_csv_path.empty()) {
    std::ostringstream csv;
    um::write_roc_csv(csv, e.roc);
    outputs.push_back({roc_csv_path, csv.str()});
  }
  const std::string plot_title = title.empty() ? scores : title;
  if (!roc_path.empty()) outputs.push_back({roc_path, ue::roc_svg(e, "ROC: " + plot_title)});
  if (!det_path.empty()) outputs.push_back({det_path, ue::det_svg(e, "DET: " + plot_title)});
  try {
    ue::write_all(outputs);
  } catch (const ue::output_error& err) {
    std::cerr << "unitsface-eval: error: " << err.what() << "\n";
    return 1;
  }
  std::cout << ue::text_report(e);
  return 0;
}
