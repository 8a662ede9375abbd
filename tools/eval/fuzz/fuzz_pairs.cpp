// libFuzzer target: the pair-list reader on arbitrary bytes, against embeddings of 16 rows. A
// read either succeeds with a valid pair list (checked here: indices below 16, labels 0/1, the
// three columns of equal length) or throws input_error; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "pairs_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t rows = 16;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  unitsface::eval::pair_list p;
  try {
    p = unitsface::eval::read_pairs_csv(in, "fuzz.csv", rows);
  } catch (const unitsface::eval::input_error&) {
    return 0;
  }
  if (p.labels.empty() || p.first.size() != p.labels.size() || p.second.size() != p.labels.size()) {
    std::abort();
  }
  for (std::size_t k = 0; k < p.labels.size(); ++k) {
    if (p.first[k] >= rows || p.second[k] >= rows || p.labels[k] > 1) std::abort();
  }
  return 0;
}
