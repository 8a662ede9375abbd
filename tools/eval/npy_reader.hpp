// unitsface-eval: the NumPy .npy reader (format versions 1.0, 2.0 and 3.0).
//
// Scores: a 1-D array of float32 or float64 ('<f4', '<f8'); labels: a 1-D array of bool or
// integers ('|b1', '|u1', '|i1', '<u2' ... '<i8') holding 0 and 1; embeddings: a 2-D array of
// float32 or float64 (C or Fortran order); identities: a 1-D array of integers. Little-endian only:
// a big-endian descr is refused rather than read as garbage. The header dictionary is parsed
// strictly (the three fields numpy writes: descr, fortran_order, shape), and the data must be
// exactly as long as the shape says: a short file is truncated, extra bytes mean the header
// does not describe the file. Every refusal is an input_error naming the file and the header
// field or element at fault.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "input_error.hpp"
#include "score_set.hpp"

namespace unitsface::eval {

struct npy_header {
  char kind = 0;                     ///< 'f', 'i', 'u' or 'b'
  std::size_t itemsize = 0;          ///< bytes per element
  std::string descr;                 ///< as written, for messages
  std::vector<std::uint64_t> shape;  ///< as written
  bool fortran_order = false;
  std::uint64_t length = 0;  ///< elements (the product of the shape)
  std::size_t data_offset = 0;
};

namespace npy_detail {

/// A cursor over the header dictionary, a Python literal such as
/// {'descr': '<f8', 'fortran_order': False, 'shape': (200,), }
struct dict_parser {
  std::string_view text;
  const std::string& name;
  std::size_t pos = 0;

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw input_error(name + ": header field '" + field + "': " + what);
  }
  [[noreturn]] void fail_syntax(const std::string& what) const {
    throw input_error(name + ": header dictionary: " + what + " at offset " + std::to_string(pos));
  }
  void skip_ws() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t')) ++pos;
  }
  bool accept(char c) {
    skip_ws();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail_syntax(std::string("expected '") + c + "'");
  }
  /// A quoted string; nullopt-like empty flag through `ok` when no quote starts here.
  bool string_literal(std::string& out) {
    skip_ws();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"')) return false;
    const char q = text[pos++];
    const std::size_t end = text.find(q, pos);
    if (end == std::string_view::npos) fail_syntax("unterminated string");
    out.assign(text.substr(pos, end - pos));
    if (out.find('\\') != std::string::npos) fail_syntax("escape sequences are not supported");
    pos = end + 1;
    return true;
  }
  bool word(std::string_view w) {
    skip_ws();
    if (text.substr(pos).starts_with(w)) {
      pos += w.size();
      return true;
    }
    return false;
  }
  std::uint64_t integer(const std::string& field) {
    skip_ws();
    const std::size_t start = pos;
    std::uint64_t v = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      const std::uint64_t d = std::uint64_t(text[pos] - '0');
      if (v > (UINT64_MAX - d) / 10) fail(field, "dimension too large");
      v = v * 10 + d;
      ++pos;
    }
    if (pos == start) fail(field, "expected a tuple of non-negative integers");
    return v;
  }
  std::vector<std::uint64_t> shape_tuple() {
    if (!accept('(')) fail("shape", "expected a tuple such as (200,)");
    std::vector<std::uint64_t> dims;
    while (!accept(')')) {
      dims.push_back(integer("shape"));
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }
};

inline std::string shape_text(const std::vector<std::uint64_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    s += std::to_string(dims[i]) + (i + 1 < dims.size() ? ", " : dims.size() == 1 ? "," : "");
  }
  return s + ")";
}

/// Element i (little-endian, `size` bytes) as an unsigned integer, independent of the host's
/// byte order.
inline std::uint64_t load_le(const unsigned char* p, std::size_t size) {
  std::uint64_t v = 0;
  for (std::size_t b = 0; b < size; ++b) v |= std::uint64_t(p[b]) << (8 * b);
  return v;
}

}  // namespace npy_detail

/// Parses and checks the header of a .npy file held in `bytes`; `name` names it in messages.
/// `dims`: the number of dimensions the caller reads (1 or 2); `what` names the array in the
/// refusal of any other shape ("a 1-D array").
inline npy_header parse_npy_header(std::string_view bytes, const std::string& name,
                                   std::size_t dims = 1) {
  using npy_detail::shape_text;
  constexpr std::string_view magic("\x93NUMPY", 6);
  if (!bytes.starts_with(magic)) {
    throw input_error(name + ": not a .npy file (no \\x93NUMPY magic string)");
  }
  if (bytes.size() < 10) throw input_error(name + ": truncated: the header is cut short");
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned major = u[6];
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = std::size_t(npy_detail::load_le(u + 8, 2));
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw input_error(name + ": truncated: the header is cut short");
    header_len = std::size_t(npy_detail::load_le(u + 8, 4));
    start = 12;
  } else {
    throw input_error(name + ": unsupported .npy format version " + std::to_string(major) + "." +
                      std::to_string(unsigned(u[7])));
  }
  if (header_len > bytes.size() - start) {
    throw input_error(name + ": truncated: the header declares " + std::to_string(header_len) +
                      " bytes, the file holds " + std::to_string(bytes.size() - start) +
                      " after the preamble");
  }
  npy_detail::dict_parser p{bytes.substr(start, header_len), name};
  std::string descr;
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  std::vector<std::uint64_t> shape;
  p.expect('{');
  while (!p.accept('}')) {
    std::string key;
    if (!p.string_literal(key)) p.fail_syntax("expected a quoted key");
    p.expect(':');
    if (key == "descr") {
      if (have_descr) p.fail("descr", "given twice");
      if (!p.string_literal(descr)) {
        p.fail("descr", "structured or non-string dtypes are not supported");
      }
      have_descr = true;
    } else if (key == "fortran_order") {
      if (have_order) p.fail("fortran_order", "given twice");
      if (p.word("True")) {
        fortran = true;
      } else if (!p.word("False")) {
        p.fail("fortran_order", "expected True or False");
      }
      have_order = true;
    } else if (key == "shape") {
      if (have_shape) p.fail("shape", "given twice");
      shape = p.shape_tuple();
      have_shape = true;
    } else {
      p.fail(shown(key), "unknown field (expected descr, fortran_order and shape)");
    }
    if (!p.accept(',')) {
      p.expect('}');
      break;
    }
  }
  p.skip_ws();
  if (p.pos != p.text.size()) p.fail_syntax("unexpected text after the dictionary");
  for (auto [have, field] : {std::pair{have_descr, "descr"}, std::pair{have_order, "fortran_order"},
                             std::pair{have_shape, "shape"}}) {
    if (!have) throw input_error(name + ": header field '" + field + "' is missing");
  }

  npy_header h;
  h.descr = descr;
  const std::string d = shown(descr);
  if (descr.size() < 3) p.fail("descr", "'" + d + "' is not a dtype string such as '<f8'");
  const char order = descr[0];
  h.kind = descr[1];
  const std::string_view size_text = std::string_view(descr).substr(2);
  if (size_text != "1" && size_text != "2" && size_text != "4" && size_text != "8") {
    p.fail("descr", "unsupported dtype '" + d + "'");
  }
  h.itemsize = std::size_t(size_text[0] - '0');
  if (order == '>' && h.itemsize > 1) {
    p.fail("descr", "big-endian data ('" + d + "') is not supported; save it little-endian");
  }
  // '|' (no byte order) and '>' are fine for one-byte elements only.
  if (!(order == '<' || ((order == '|' || order == '>') && h.itemsize == 1))) {
    p.fail("descr", "unsupported byte order in '" + d + "' (little-endian '<' or '|' only)");
  }
  if (h.kind != 'f' && h.kind != 'i' && h.kind != 'u' && h.kind != 'b') {
    p.fail("descr", "unsupported dtype '" + d + "'");
  }
  if (shape.size() != dims) {
    p.fail("shape", shape_text(shape) + ": expected a " + std::to_string(dims) + "-D array");
  }
  h.shape = shape;
  h.fortran_order = fortran;
  h.data_offset = start + header_len;
  const std::size_t available = bytes.size() - h.data_offset;
  // The element count, refusing a product that overflows (it cannot fit in the file anyway).
  bool too_many = false;
  h.length = 1;
  for (std::uint64_t e : shape) {
    if (e == 0) {
      h.length = 0;
      too_many = false;
      break;
    }
    if (h.length > UINT64_MAX / e) too_many = true;
    h.length *= e;
  }
  if (too_many || h.length > available / h.itemsize) {
    throw input_error(name + ": truncated: shape " + shape_text(shape) + " of '" + d + "' needs " +
                      (too_many || h.length > SIZE_MAX / h.itemsize
                           ? std::string("more")
                           : std::to_string(h.length * h.itemsize)) +
                      " data bytes, the file holds " + std::to_string(available));
  }
  if (available != h.length * h.itemsize) {
    throw input_error(name + ": " + std::to_string(available - h.length * h.itemsize) +
                      " bytes after the data that header field 'shape' " + shape_text(shape) +
                      " describes");
  }
  return h;
}

/// The scores of a .npy file: float32 or float64, every one finite.
inline std::vector<double> read_npy_scores(std::string_view bytes, const std::string& name) {
  const npy_header h = parse_npy_header(bytes, name);
  if (h.kind != 'f' || (h.itemsize != 4 && h.itemsize != 8)) {
    throw input_error(name +
                      ": header field 'descr': scores must be float32 or float64 "
                      "('<f4', '<f8'), got '" +
                      shown(h.descr) + "'");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + h.data_offset;
  std::vector<double> out(h.length);
  for (std::uint64_t i = 0; i < h.length; ++i) {
    const std::uint64_t bits = npy_detail::load_le(p + i * h.itemsize, h.itemsize);
    const double v = h.itemsize == 4 ? double(std::bit_cast<float>(std::uint32_t(bits)))
                                     : std::bit_cast<double>(bits);
    if (!std::isfinite(v)) {
      throw input_error(name + ": element " + std::to_string(i) + ": score " +
                        (std::isnan(v) ? "nan"
                         : v > 0       ? "inf"
                                       : "-inf") +
                        " is not finite");
    }
    out[i] = v;
  }
  return out;
}

/// The labels of a .npy file: bool or integers, every one 0 or 1.
inline std::vector<std::uint8_t> read_npy_labels(std::string_view bytes, const std::string& name) {
  const npy_header h = parse_npy_header(bytes, name);
  if (h.kind == 'f' || (h.kind == 'b' && h.itemsize != 1)) {
    throw input_error(name + ": header field 'descr': labels must be bool or integers, got '" +
                      shown(h.descr) + "'");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + h.data_offset;
  std::vector<std::uint8_t> out(h.length);
  for (std::uint64_t i = 0; i < h.length; ++i) {
    const std::uint64_t v = npy_detail::load_le(p + i * h.itemsize, h.itemsize);
    if (v > 1) {
      // Shown signed for the signed kinds, so that -1 reads as -1.
      const int shift = int(64 - 8 * h.itemsize);
      const std::string value =
          h.kind == 'i' ? std::to_string(std::int64_t(v << shift) >> shift) : std::to_string(v);
      throw input_error(name + ": element " + std::to_string(i) + ": label " + value +
                        " must be 0 or 1");
    }
    out[i] = std::uint8_t(v);
  }
  return out;
}

/// A 2-D float array (embeddings, one per row), row-major in double whatever the file's order.
struct npy_matrix {
  std::uint64_t rows = 0, cols = 0;
  std::vector<double> data;  ///< rows x cols, row-major
};

/// The embeddings of a .npy file: a 2-D float32 or float64 array, every element finite.
inline npy_matrix read_npy_matrix(std::string_view bytes, const std::string& name) {
  const npy_header h = parse_npy_header(bytes, name, 2);
  if (h.kind != 'f' || (h.itemsize != 4 && h.itemsize != 8)) {
    throw input_error(name +
                      ": header field 'descr': embeddings must be float32 or float64 "
                      "('<f4', '<f8'), got '" +
                      shown(h.descr) + "'");
  }
  npy_matrix m;
  m.rows = h.shape[0];
  m.cols = h.shape[1];
  if (m.rows == 0 || m.cols == 0) {
    throw input_error(name + ": header field 'shape': " + npy_detail::shape_text(h.shape) +
                      ": no embedding (rows and columns must be > 0)");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + h.data_offset;
  m.data.resize(h.length);
  for (std::uint64_t k = 0; k < h.length; ++k) {
    const std::uint64_t bits = npy_detail::load_le(p + k * h.itemsize, h.itemsize);
    const double v = h.itemsize == 4 ? double(std::bit_cast<float>(std::uint32_t(bits)))
                                     : std::bit_cast<double>(bits);
    // Element k of the file is (k / cols, k % cols) in C order, (k % rows, k / rows) in Fortran.
    const std::uint64_t r = h.fortran_order ? k % m.rows : k / m.cols;
    const std::uint64_t c = h.fortran_order ? k / m.rows : k % m.cols;
    if (!std::isfinite(v)) {
      throw input_error(name + ": element (" + std::to_string(r) + ", " + std::to_string(c) +
                        "): " +
                        (std::isnan(v) ? "nan"
                         : v > 0       ? "inf"
                                       : "-inf") +
                        " is not finite");
    }
    m.data[r * m.cols + c] = v;
  }
  return m;
}

/// The identity labels of a .npy file: a 1-D array of integers (any width, signed or not).
inline std::vector<std::int64_t> read_npy_identities(std::string_view bytes,
                                                     const std::string& name) {
  const npy_header h = parse_npy_header(bytes, name);
  if (h.kind != 'i' && h.kind != 'u') {
    throw input_error(name + ": header field 'descr': identities must be integers, got '" +
                      shown(h.descr) + "'");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + h.data_offset;
  std::vector<std::int64_t> out(h.length);
  const int shift = int(64 - 8 * h.itemsize);
  for (std::uint64_t i = 0; i < h.length; ++i) {
    const std::uint64_t v = npy_detail::load_le(p + i * h.itemsize, h.itemsize);
    if (h.kind == 'u' && v > std::uint64_t(INT64_MAX)) {
      throw input_error(name + ": element " + std::to_string(i) + ": identity " +
                        std::to_string(v) + " is out of the range of int64");
    }
    // Sign-extended for the signed kinds (shift is 0 for 8-byte elements).
    out[i] = h.kind == 'i' && shift > 0 ? std::int64_t(v << shift) >> shift : std::int64_t(v);
  }
  return out;
}

/// Scores and labels from two .npy files of the same length.
inline score_set read_npy_pair(std::string_view score_bytes, const std::string& score_name,
                               std::string_view label_bytes, const std::string& label_name) {
  score_set s;
  s.scores = read_npy_scores(score_bytes, score_name);
  s.labels = read_npy_labels(label_bytes, label_name);
  if (s.scores.size() != s.labels.size()) {
    throw input_error("shape mismatch: " + score_name + " holds " +
                      std::to_string(s.scores.size()) + " scores, " + label_name + " holds " +
                      std::to_string(s.labels.size()) + " labels (header field 'shape')");
  }
  for (std::uint8_t l : s.labels) s.genuine += l;
  require_both_classes(s, score_name + " with " + label_name);
  return s;
}

}  // namespace unitsface::eval
