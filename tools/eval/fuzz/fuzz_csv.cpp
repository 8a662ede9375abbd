// libFuzzer target: the CSV reader on arbitrary bytes. A read either succeeds with a valid
// score set (checked here) or throws input_error; anything else (another exception, a
// sanitizer report) is a finding. The metrics are not run here: each sort allocates a 1 MiB
// histogram, which would cut the fuzzer's speed twentyfold; the library's tests cover them.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "csv_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  unitsface::eval::score_set s;
  try {
    s = unitsface::eval::read_csv(in, "fuzz.csv");
  } catch (const unitsface::eval::input_error&) {
    return 0;
  }
  std::uint64_t genuine = 0;
  for (std::size_t i = 0; i < s.scores.size(); ++i) {
    if (!std::isfinite(s.scores[i]) || s.labels[i] > 1) std::abort();
    genuine += s.labels[i];
  }
  if (s.scores.size() != s.labels.size() || genuine != s.genuine || s.genuine == 0 ||
      s.impostor() == 0) {
    std::abort();
  }
  return 0;
}
