// unitsface-eval: the pair-list reader. Format: a header line `first,second,label`, then one
// pair per line, `<row>,<row>,<label>`: two 0-based row indices into the embeddings file and a
// label 0 (different identities) or 1 (same identity). The pairs are kept in file order, which
// is the order the k-fold protocol splits them in (LFW's pairs.txt, written out as rows).
// Spaces, CRLF line ends, a UTF-8 byte-order mark and blank lines are allowed, as in the score
// CSV; anything else stops the read with an input_error naming the file and the line.
#pragma once

#include <charconv>
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "csv_reader.hpp"
#include "input_error.hpp"

namespace unitsface::eval {

struct pair_list {
  std::vector<std::uint64_t> first, second;  ///< row indices, each < the embeddings' rows
  std::vector<std::uint8_t> labels;          ///< 0 or 1
};

/// Reads every pair of `in`; `rows`: the embeddings' row count (indices must be below it);
/// `name` is the file name used in messages. With `template_ids` the two columns are template
/// ids (any non-negative integer, checked against the templates by the caller) instead.
inline pair_list read_pairs_csv(std::istream& in, const std::string& name, std::uint64_t rows,
                                const read_progress& progress = {}, bool template_ids = false) {
  using csv_detail::trim;
  pair_list out;
  std::string line;
  std::uint64_t line_no = 1, bytes = 0;
  auto fail = [&](const std::string& what) {
    throw input_error(name + ": line " + std::to_string(line_no) + ": " + what);
  };
  csv_detail::expect_header(in, name, "first,second,label", bytes);
  auto index = [&](std::string_view text, const char* field) {
    std::uint64_t v = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
      fail(std::string(field) + " '" + shown(text) +
           (template_ids ? "' is not a template id (0, 1, 2, ...)"
                         : "' is not a row index (0, 1, 2, ...)"));
    }
    if (template_ids && (ec == std::errc::result_out_of_range || v > std::uint64_t(INT64_MAX))) {
      fail(std::string(field) + " " + shown(text) + " is out of the range of int64");
    }
    if (!template_ids && (ec == std::errc::result_out_of_range || v >= rows)) {
      fail(std::string(field) + " " + shown(text) + " is out of range: the embeddings have " +
           std::to_string(rows) + " rows");
    }
    return v;
  };
  while (std::getline(in, line)) {
    ++line_no;
    bytes += line.size() + 1;
    if (progress && (line_no & ((1u << 20) - 1)) == 0) progress(line_no, bytes);
    const std::string_view v = line;
    if (trim(v).empty()) continue;
    const std::size_t cols = csv_detail::columns(v);
    if (cols != 3) {
      fail("expected 3 columns (first,second,label), got " + std::to_string(cols) + ": '" +
           shown(v) + "'");
    }
    const std::size_t c1 = v.find(','), c2 = v.find(',', c1 + 1);
    const std::uint64_t a = index(trim(v.substr(0, c1)), "first");
    const std::uint64_t b = index(trim(v.substr(c1 + 1, c2 - c1 - 1)), "second");
    const std::string_view label_text = trim(v.substr(c2 + 1));
    if (label_text != "0" && label_text != "1") {
      fail("label '" + shown(label_text) + "' must be 0 or 1");
    }
    out.first.push_back(a);
    out.second.push_back(b);
    out.labels.push_back(label_text == "1");
  }
  if (in.bad()) throw input_error(name + ": read error after line " + std::to_string(line_no));
  if (out.labels.empty()) fail("no pair line after the header");
  return out;
}

}  // namespace unitsface::eval
