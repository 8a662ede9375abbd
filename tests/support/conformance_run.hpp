// Test support: what the conformance runners (conformance_losses, conformance_metrics,
// conformance_protocols) share — their command line `[FOLDER] [--backend NAME]
// [--expect-cases N]`, the list of cases, the closing line "N passed, M failed" and the numbers
// of the JSON cases ("inf" written as a string).
#pragma once

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "backend_registry.hpp"

namespace unitsface::test {

struct conformance_run {
  conformance_run(std::string default_folder, std::string default_backend)
      : folder(std::move(default_folder)), backend(std::move(default_backend)) {}
  std::string folder;
  std::string backend;
  long expect_cases = -1;                    ///< -1: not checked
  std::vector<std::filesystem::path> files;  ///< the folder's *.json, sorted
};

/// Reads the command line into `run` (whose folder and backend hold the defaults), checks that
/// the backend is built into this runner, and lists the folder's cases. Returns -1 to go on,
/// or the status to exit with: 0 after --help, 2 for a usage error, an unbuilt backend or a
/// folder that cannot be read.
inline int start_conformance(const char* program, int argc, char** argv, conformance_run& run) {
  const auto built = built_backends();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--backend" || a == "--expect-cases") && i + 1 >= argc) {
      std::cerr << program << ": " << a << " needs a value\n";
      return 2;
    } else if (a == "--backend") {
      run.backend = argv[++i];
    } else if (a.rfind("--backend=", 0) == 0) {
      run.backend = a.substr(10);
    } else if (a == "--expect-cases") {
      run.expect_cases = std::stol(argv[++i]);
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: " << program << " [FOLDER] [--backend NAME] [--expect-cases N]\n"
                << "built backends:";
      for (const auto& b : built) std::cout << ' ' << b;
      std::cout << '\n';
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << program << ": unknown option " << a << '\n';
      return 2;
    } else {
      run.folder = a;
    }
  }
  if (std::find(built.begin(), built.end(), run.backend) == built.end()) {
    std::cerr << program << ": backend '" << run.backend << "' is not built into this runner"
              << " (built:";
    for (const auto& b : built) std::cerr << ' ' << b;
    std::cerr << ")\n";
    return 2;
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(run.folder, ec))
    if (e.is_regular_file() && e.path().extension() == ".json") run.files.push_back(e.path());
  if (ec) {
    std::cerr << program << ": cannot read folder " << run.folder << ": " << ec.message() << '\n';
    return 2;
  }
  std::sort(run.files.begin(), run.files.end());
  return -1;
}

/// The closing line; a folder without cases, or (with --expect-cases) with another number of
/// cases, fails. Returns the exit status.
inline int finish_conformance(const char* program, const conformance_run& run, int passed,
                              int failed) {
  if (run.files.empty()) {
    std::cerr << program << ": no *.json case in " << run.folder << '\n';
    failed = std::max(failed, 1);
  }
  if (run.expect_cases >= 0 && static_cast<long>(run.files.size()) != run.expect_cases) {
    std::printf("expected %ld case(s), found %zu\n", run.expect_cases, run.files.size());
    failed += 1;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}

/// A number of a case: a JSON number, or "inf" / "-inf" / "nan" written as strings.
inline double json_number(const nlohmann::json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf" || s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-inf" || s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (s == "nan" || s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    throw std::runtime_error("unexpected string value '" + s + "'");
  }
  return j.get<double>();
}

inline std::vector<double> json_numbers(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(json_number(x));
  return v;
}

}  // namespace unitsface::test
