// unitsface-eval's test helper.
//   make-files VECTOR DIR        writes the test inputs from a verification vector: the CSV, .npy
//                                scores and labels in several dtypes, and one malformed file per
//                                refusal the tests check
//   check-vector REPORT VECTOR RULE
//                                compares a JSON report with the vector's expected values (1e-9)
//   same-report A B              the two reports agree in every field but "input"
// Written in C++ so that the tests need neither Python nor numpy.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path);
}

void put_le(std::string& out, std::uint64_t v, int size) {
  for (int b = 0; b < size; ++b) out += char((v >> (8 * b)) & 0xFF);
}

/// A .npy file (format 1.0) with the header dictionary `dict` and `data`, padded as numpy pads.
std::string npy(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  put_le(out, header.size(), 2);
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

std::string f8(const std::vector<double>& v) {
  std::string d;
  for (double x : v) {
    std::uint64_t b;
    std::memcpy(&b, &x, 8);
    put_le(d, b, 8);
  }
  return d;
}

std::string f4(const std::vector<double>& v) {
  std::string d;
  for (double x : v) {
    const float f = float(x);
    std::uint32_t b;
    std::memcpy(&b, &f, 4);
    put_le(d, b, 4);
  }
  return d;
}

std::string ints(const std::vector<long long>& v, int size) {
  std::string d;
  for (long long x : v) put_le(d, std::uint64_t(x), size);
  return d;
}

std::string csv(const std::vector<double>& s, const std::vector<long long>& y) {
  std::string out = "score,label\n";
  char buf[64];
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.17g,%lld\n", s[i], y[i]);
    out += buf;
  }
  return out;
}

int make_files(const std::string& vector_path, const std::string& dir) {
  const json v = json::parse(std::ifstream(vector_path));
  const auto s = v.at("scores").get<std::vector<double>>();
  const auto y = v.at("labels").get<std::vector<long long>>();
  const std::string n = "(" + std::to_string(s.size()) + ",)";
  std::filesystem::create_directories(dir);
  write(dir + "/verif_small.csv", csv(s, y));
  // The vector's scores are float32 values, so the float32 file holds the same numbers.
  write(dir + "/scores_f8.npy", npy(dict("<f8", n), f8(s)));
  write(dir + "/scores_f4.npy", npy(dict("<f4", n), f4(s)));
  write(dir + "/labels_i8.npy", npy(dict("<i8", n), ints(y, 8)));
  write(dir + "/labels_b1.npy", npy(dict("|b1", n), ints(y, 1)));
  write(dir + "/labels_u1.npy", npy(dict("|u1", n), ints(y, 1)));

  // Malformed CSVs; the comments give the line the message must name.
  write(dir + "/bad_number.csv", "score,label\n0.5,1\n0.1,0\nabc,1\n");   // line 4
  write(dir + "/nan.csv", "score,label\n0.5,1\nnan,0\n0.2,0\n");          // line 3
  write(dir + "/inf.csv", "score,label\n0.5,1\n0.1,0\n0.2,0\n-inf,1\n");  // line 5
  write(dir + "/bad_label.csv", "score,label\n0.5,1\n0.5,2\n");           // line 3
  write(dir + "/columns.csv", "score,label\n0.5,1\n0.1,0\n0.1,1,3\n");    // line 4
  write(dir + "/no_header.csv", "0.5,1\n0.1,0\n");
  write(dir + "/wrong_header.csv", "label,score\n1,0.5\n0,0.1\n");
  write(dir + "/empty.csv", "");
  write(dir + "/header_only.csv", "score,label\n");
  write(dir + "/no_genuine.csv", "score,label\n0.5,0\n0.1,0\n");
  write(dir + "/no_impostor.csv", "score,label\n0.5,1\n0.1,1\n");
  // Malformed .npy files.
  const std::string good = npy(dict("<f8", n), f8(s));
  write(dir + "/truncated.npy", good.substr(0, good.size() - 100));
  write(dir + "/truncated_header.npy", good.substr(0, 30));
  write(dir + "/scores_i4.npy", npy(dict("<i4", n), ints(y, 4)));
  write(dir + "/labels_f8.npy", npy(dict("<f8", n), f8(std::vector<double>(y.begin(), y.end()))));
  write(dir + "/complex.npy", npy(dict("<c8", n), f8(s)));
  write(dir + "/big_endian.npy", npy(dict(">f8", n), f8(s)));
  write(dir + "/two_d.npy", npy(dict("<f8", "(100, 2)"), f8(s)));
  write(dir + "/no_shape.npy", npy("{'descr': '<f8', 'fortran_order': False, }", f8(s)));
  auto short_y = y;
  short_y.pop_back();
  write(dir + "/short_labels.npy",
        npy(dict("<i8", "(" + std::to_string(short_y.size()) + ",)"), ints(short_y, 8)));
  auto bad_y = y;
  bad_y[7] = -1;
  write(dir + "/labels_bad.npy", npy(dict("<i8", n), ints(bad_y, 8)));
  auto nan_s = s;
  nan_s[3] = std::nan("");
  write(dir + "/scores_nan.npy", npy(dict("<f8", n), f8(nan_s)));
  return 0;
}

bool close(const json& got, const json& want, const std::string& what, double tol = 1e-9) {
  const bool want_inf = want.is_string() && want.get<std::string>() == "inf";
  bool ok;
  if (want_inf) {
    ok = got.is_null();
  } else {
    ok = got.is_number() && std::abs(got.get<double>() - want.get<double>()) <= tol;
  }
  if (!ok) std::cerr << what << ": got " << got.dump() << ", want " << want.dump() << "\n";
  return ok;
}

int check_vector(const std::string& report_path, const std::string& vector_path,
                 const std::string& rule) {
  const json r = json::parse(std::ifstream(report_path));
  const json v = json::parse(std::ifstream(vector_path));
  const json& e = v.at("expected");
  bool ok = true;
  const auto y = v.at("labels").get<std::vector<long long>>();
  long long genuine = 0;
  for (long long l : y) genuine += l;
  ok &= r.at("n_genuine").get<long long>() == genuine;
  ok &= r.at("n_impostor").get<long long>() == (long long)y.size() - genuine;
  ok &= close(r.at("auc"), e.at("auc"), "auc");
  ok &= close(r.at("eer"), e.at("eer"), "eer");
  ok &= r.at("rule") == rule;
  const json& want = e.at("tar_at_far_" + rule);
  const json& got = r.at("tar_at_far");
  ok &= got.size() == want.size();
  for (const auto& [key, w] : want.items()) {
    const double target = std::stod(key);
    bool found = false;
    for (const auto& g : got) {
      if (g.at("far_target").get<double>() != target) continue;
      found = true;
      for (const auto& [field, value] : w.items()) {
        ok &= close(g.at(field), value, "tar_at_far " + key + " " + field);
      }
    }
    if (!found) std::cerr << "tar_at_far: no entry for FAR " << key << "\n";
    ok &= found;
  }
  std::cout << (ok ? "report matches the vector\n" : "report differs from the vector\n");
  return ok ? 0 : 1;
}

int same_report(const std::string& a_path, const std::string& b_path) {
  json a = json::parse(std::ifstream(a_path));
  json b = json::parse(std::ifstream(b_path));
  a.erase("input");
  b.erase("input");
  if (a == b) return 0;
  std::cerr << "reports differ: " << json::diff(a, b).dump(1).substr(0, 2000) << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 3 && a[0] == "make-files") return make_files(a[1], a[2]);
    if (a.size() == 4 && a[0] == "check-vector") return check_vector(a[1], a[2], a[3]);
    if (a.size() == 3 && a[0] == "same-report") return same_report(a[1], a[2]);
  } catch (const std::exception& e) {
    std::cerr << "eval_test_helper: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: eval_test_helper make-files VECTOR DIR | check-vector REPORT VECTOR RULE"
               " | same-report A B\n";
  return 2;
}
