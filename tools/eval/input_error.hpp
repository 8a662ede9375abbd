// unitsface-eval: the error for malformed input. Its message names the file and the line (CSV)
// or the header field / element (.npy); main turns it into exit status 2.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace unitsface::eval {

class input_error : public std::runtime_error {
 public:
  explicit input_error(const std::string& what) : std::runtime_error(what) {}
};

/// `text` made safe to print in a message: at most `max` characters, anything outside
/// printable ASCII shown as '?' (a binary file must not send control codes to the terminal).
inline std::string shown(std::string_view text, std::size_t max = 40) {
  std::string out;
  for (char c : text.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace unitsface::eval
