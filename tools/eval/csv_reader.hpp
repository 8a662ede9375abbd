// unitsface-eval: the CSV reader. Format: a header line `score,label`, then one pair per line,
// `<score>,<label>` with a finite decimal score and a label 0 (impostor) or 1 (genuine).
// Spaces around a field, CRLF line ends, a UTF-8 byte-order mark and blank lines are allowed;
// anything else stops the read with an input_error naming the file and the line.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <system_error>

#include "input_error.hpp"
#include "score_set.hpp"

namespace unitsface::eval {

/// Called every 2^20 lines with the lines and bytes read so far (for a progress bar).
using read_progress = std::function<void(std::uint64_t lines, std::uint64_t bytes)>;

namespace csv_detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

inline std::size_t columns(std::string_view line) {
  std::size_t n = 1;
  for (char c : line) n += c == ',';
  return n;
}

/// Reads line 1 of `in`, which must be `header` (e.g. "score,label"): the same fields, spaces
/// around each allowed, after an optional UTF-8 byte-order mark. Adds the line's bytes to
/// `bytes`; an input_error naming `name` and line 1 otherwise.
inline void expect_header(std::istream& in, const std::string& name, std::string_view header,
                          std::uint64_t& bytes) {
  std::string line;
  const std::string want = "the header line '" + std::string(header) + "'";
  if (!std::getline(in, line)) {
    if (in.bad()) throw input_error(name + ": read error");
    throw input_error(name + ": line 1: empty file, expected " + want);
  }
  bytes += line.size() + 1;
  std::string_view got = line;
  if (got.starts_with("\xEF\xBB\xBF")) got.remove_prefix(3);
  bool ok = columns(got) == columns(header);
  for (std::string_view g = got, h = header; ok && !h.empty();) {
    const std::size_t gc = std::min(g.find(','), g.size()), hc = std::min(h.find(','), h.size());
    ok = trim(g.substr(0, gc)) == h.substr(0, hc);
    g.remove_prefix(std::min(gc + 1, g.size()));
    h.remove_prefix(std::min(hc + 1, h.size()));
  }
  if (!ok) throw input_error(name + ": line 1: expected " + want + ", got '" + shown(got) + "'");
}

}  // namespace csv_detail

/// Reads every pair of `in`; `name` is the file name used in messages.
inline score_set read_csv(std::istream& in, const std::string& name,
                          const read_progress& progress = {}) {
  using csv_detail::trim;
  score_set out;
  std::string line;
  std::uint64_t line_no = 1, bytes = 0;
  auto fail = [&](const std::string& what) {
    throw input_error(name + ": line " + std::to_string(line_no) + ": " + what);
  };
  csv_detail::expect_header(in, name, "score,label", bytes);
  while (std::getline(in, line)) {
    ++line_no;
    bytes += line.size() + 1;
    if (progress && (line_no & ((1u << 20) - 1)) == 0) progress(line_no, bytes);
    const std::string_view v = line;
    if (trim(v).empty()) continue;  // a blank line (often the last) holds no pair
    const std::size_t cols = csv_detail::columns(v);
    if (cols != 2) {
      fail("expected 2 columns (score,label), got " + std::to_string(cols) + ": '" + shown(v) +
           "'");
    }
    const std::size_t comma = v.find(',');
    const std::string_view score_text = trim(v.substr(0, comma));
    const std::string_view label_text = trim(v.substr(comma + 1));
    double score = 0;
    const char* end = score_text.data() + score_text.size();
    const auto [ptr, ec] = std::from_chars(score_text.data(), end, score);
    if (score_text.empty() || ec == std::errc::invalid_argument || ptr != end) {
      fail("score '" + shown(score_text) + "' is not a number");
    }
    if (ec == std::errc::result_out_of_range) {
      fail("score '" + shown(score_text) + "' is out of the range of a double");
    }
    if (!std::isfinite(score)) fail("score '" + shown(score_text) + "' is not finite");
    if (label_text != "0" && label_text != "1") {
      fail("label '" + shown(label_text) + "' must be 0 or 1");
    }
    const bool genuine = label_text == "1";
    out.scores.push_back(score);
    out.labels.push_back(genuine);
    out.genuine += genuine;
  }
  if (in.bad()) throw input_error(name + ": read error after line " + std::to_string(line_no));
  if (out.scores.empty()) fail("no score line after the header");
  require_both_classes(out, name);
  return out;
}

}  // namespace unitsface::eval
