// The conformance runners (tests/losses, tests/metrics) run as one Catch2 test case of a
// module's CUDA unit: their main, renamed, is called with --backend cuda and, for the
// project's own vectors, the number of cases the folder must hold.
#pragma once

#include <string>
#include <vector>

namespace unitsface::test {

/// Runs `runner_main` as `program --backend cuda [--expect-cases N]` (N < 0: not checked);
/// returns its exit status.
inline int run_cuda_conformance(int (*runner_main)(int, char**), const char* program,
                                long expected_cases) {
  std::vector<std::string> args{program, "--backend", "cuda"};
  if (expected_cases >= 0) {
    args.push_back("--expect-cases");
    args.push_back(std::to_string(expected_cases));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return runner_main(int(args.size()), argv.data());
}

}  // namespace unitsface::test
