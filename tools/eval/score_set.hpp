// unitsface-eval: the scores and labels read from the input, validated as they are read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "input_error.hpp"

namespace unitsface::eval {

struct score_set {
  std::vector<double> scores;        ///< finite; float32 inputs widen exactly
  std::vector<std::uint8_t> labels;  ///< 0 (impostor) or 1 (genuine)
  std::uint64_t genuine = 0;         ///< count of label 1
  std::uint64_t impostor() const { return labels.size() - genuine; }
};

/// Both classes are needed for every rate; `where` names the input in the message.
inline void require_both_classes(const score_set& s, const std::string& where) {
  if (s.genuine == 0) {
    throw input_error(where + ": no genuine score (label 1) among " +
                      std::to_string(s.labels.size()) + " pairs");
  }
  if (s.impostor() == 0) {
    throw input_error(where + ": no impostor score (label 0) among " +
                      std::to_string(s.labels.size()) + " pairs");
  }
}

}  // namespace unitsface::eval
