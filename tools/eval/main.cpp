// unitsface-eval: evaluates verification scores (CSV, or .npy scores and labels) with the
// unitsface metrics: a table on stdout, and optionally a JSON report, the ROC curve as CSV and
// ROC / DET plots as SVG. Exit status: 0 success, 2 malformed input or usage, 1 an output file
// that cannot be written. Nothing is written until the whole input has been read and checked.
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
#include "evaluation.hpp"
#include "input_error.hpp"
#include "npy_reader.hpp"
#include "output_files.hpp"
#include "plots.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "unitsface/core/error.hpp"

namespace ue = unitsface::eval;
namespace um = unitsface::metrics;

namespace {

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
      "unitsface-eval: verification metrics of scored pairs.\n"
      "Reads a CSV with a header line 'score,label' (label 1 = genuine, 0 = impostor), or a\n"
      ".npy file of float32/float64 scores with --labels, a .npy file of bool/integer labels.\n"
      "Prints AUC, EER and TAR at FAR 1e-6 ... 1e-1; a pair is accepted when score >= threshold.\n"
      "Exit status: 0 success, 2 malformed input or bad usage, 1 an output that cannot be\n"
      "written. Outputs are written only once the whole input has been checked.",
      "unitsface-eval"};
  std::string scores, labels, json_path, roc_path, det_path, roc_csv_path, title;
  std::string rule = "at_most";
  app.add_option("scores", scores, "Scores: a CSV file (score,label), or a .npy file of scores")
      ->required()
      ->check(CLI::ExistingFile);
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
      "Documentation: docs/eval.md");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors share status 2 with malformed input: both mean "fix what you passed".
    return app.exit(e) == 0 ? 0 : 2;
  }

  const um::far_rule r = rule == "nearest"        ? um::far_rule::nearest
                         : rule == "interpolated" ? um::far_rule::interpolated
                                                  : um::far_rule::at_most;
  const std::string input = labels.empty() ? scores : scores + " with " + labels;
  ue::evaluation e;
  try {
    const ue::score_set s = read_input(scores, labels);
    e = ue::evaluate(s, input, r, !json_path.empty() || !roc_path.empty() || !det_path.empty(),
                     !roc_csv_path.empty());
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
