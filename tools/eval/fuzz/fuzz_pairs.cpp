// libFuzzer target: the pair-list reader on arbitrary bytes, against embeddings of 16 rows, and
// again as a list of template ids (unitsface-eval ijbc). A read either succeeds with a valid
// pair list (checked here: indices below 16 / ids within int64, labels 0/1, the three columns of
// equal length) or throws input_error; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "pairs_reader.hpp"

namespace {

void read_and_check(const std::string& bytes, bool template_ids) {
  constexpr std::uint64_t rows = 16;
  const std::uint64_t limit = template_ids ? std::uint64_t(INT64_MAX) + 1 : rows;
  std::istringstream in(bytes);
  unitsface::eval::pair_list p;
  try {
    p = unitsface::eval::read_pairs_csv(in, "fuzz.csv", rows, {}, template_ids);
  } catch (const unitsface::eval::input_error&) {
    return;
  }
  if (p.labels.empty() || p.first.size() != p.labels.size() || p.second.size() != p.labels.size()) {
    std::abort();
  }
  for (std::size_t k = 0; k < p.labels.size(); ++k) {
    if (p.first[k] >= limit || p.second[k] >= limit || p.labels[k] > 1) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  read_and_check(bytes, false);
  read_and_check(bytes, true);
  return 0;
}
