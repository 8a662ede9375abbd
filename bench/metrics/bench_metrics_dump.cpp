// Writes the benchmark's IJB-C-sized synthetic scores to a binary file (see ijbc_scores.hpp)
// for compare_sklearn.py:  bench_metrics_dump OUT.bin
#include <cstdio>

#include "ijbc_scores.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench_metrics_dump OUT.bin\n");
    return 2;
  }
  std::vector<float> s;
  std::vector<std::uint8_t> l;
  ijbc::make(s, l);
  ijbc::write(argv[1], s, l);
  return 0;
}
