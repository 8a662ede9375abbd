// libFuzzer target: the .npy reader on arbitrary bytes, read as a score file, a label file, an
// embeddings file (2-D) and an identities file. Each read either succeeds with valid values or
// throws input_error; anything else (another exception, a sanitizer report) is a finding. Accepted
// scores are paired with labels of the same length (read_npy_pair); the metrics are not run (see
// fuzz_csv.cpp).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "npy_reader.hpp"

namespace ue = unitsface::eval;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto labels = ue::read_npy_labels(bytes, "fuzz.npy");
    for (std::uint8_t l : labels) {
      if (l > 1) std::abort();
    }
  } catch (const ue::input_error&) {
  }
  try {
    const auto m = ue::read_npy_matrix(bytes, "fuzz.npy");
    if (m.rows == 0 || m.cols == 0 || m.data.size() != m.rows * m.cols) std::abort();
    for (double v : m.data) {
      if (!std::isfinite(v)) std::abort();
    }
  } catch (const ue::input_error&) {
  }
  try {
    (void)ue::read_npy_identities(bytes, "fuzz.npy");
  } catch (const ue::input_error&) {
  }
  std::vector<double> scores;
  try {
    scores = ue::read_npy_scores(bytes, "fuzz.npy");
  } catch (const ue::input_error&) {
    return 0;
  }
  for (double v : scores) {
    if (!std::isfinite(v)) std::abort();
  }
  // The pair check: the same length and both classes, or an input_error.
  const std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }\n";
  std::string labels("\x93NUMPY\x01\x00", 8);
  labels += char(dict.size());
  labels += '\0';
  labels += dict;
  labels += std::string("\x01\x00", 2);
  try {
    const auto s = ue::read_npy_pair(bytes, "fuzz.npy", labels, "labels.npy");
    if (s.scores.size() != 2 || s.genuine != 1) std::abort();
  } catch (const ue::input_error&) {
  }
  return 0;
}
