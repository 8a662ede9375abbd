// unitsface-eval's test helper.
//   make-files VECTOR DIR        writes the test inputs from a verification vector: the CSV, .npy
//                                scores and labels in several dtypes, and one malformed file per
//                                refusal the tests check
//   check-vector REPORT VECTOR RULE
//                                compares a JSON report with the vector's expected values (1e-9)
//   make-embedding-files LFW DIR writes embedding inputs: the LFW vector's embeddings (C and
//                                Fortran order) with its pair list and the pairs' cosines as a
//                                score CSV; a seeded identity-labelled set with the scores of all
//                                its pairs and its leave-one-out ranks found by brute force; and
//                                one malformed file per refusal the tests check
//   check-kfold REPORT LFW       the report's k-fold accuracy is the vector's (1e-9)
//   check-identification REPORT EXPECTED
//                                the report's rank-1 / rank-5 / CMC are the brute-force ones
//   same-report A B              the two reports agree in every field but "input"
//   same-verification A B        ... and but the embedding-only fields
//   make-protocol-files VECTORS DIR
//                                writes the protocol subcommands' inputs (.npy, pair CSV) from
//                                the protocol vectors, and malformed ones
//   check-protocol REPORT VECTOR [TOL]
//                                a protocol subcommand's report against the vector's expected
//                                values (counts exact, values 1e-9; AUC and EER within TOL)
// Written in C++ so that the tests need neither Python nor numpy.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
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

/// A 2-D .npy of doubles; `fortran`: written column by column, with fortran_order True.
std::string matrix_npy(const std::vector<std::vector<double>>& rows, bool fortran) {
  const std::size_t n = rows.size(), d = rows[0].size();
  std::vector<double> flat;
  for (std::size_t k = 0; k < n * d; ++k) {
    flat.push_back(fortran ? rows[k % n][k / n] : rows[k / d][k % d]);
  }
  const std::string dict = std::string("{'descr': '<f8', 'fortran_order': ") +
                           (fortran ? "True" : "False") + ", 'shape': (" + std::to_string(n) +
                           ", " + std::to_string(d) + "), }";
  return npy(dict, f8(flat));
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t c = 0; c < a.size(); ++c) {
    ab += a[c] * b[c];
    aa += a[c] * a[c];
    bb += b[c] * b[c];
  }
  return ab / std::sqrt(aa * bb);
}

int make_embedding_files(const std::string& lfw_path, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const json v = json::parse(std::ifstream(lfw_path));
  auto rows = v.at("embeddings1").get<std::vector<std::vector<double>>>();
  const auto e2 = v.at("embeddings2").get<std::vector<std::vector<double>>>();
  const auto same = v.at("issame").get<std::vector<long long>>();
  const std::size_t n = same.size();
  rows.insert(rows.end(), e2.begin(), e2.end());
  write(dir + "/lfw_emb.npy", matrix_npy(rows, false));
  write(dir + "/lfw_emb_fortran.npy", matrix_npy(rows, true));
  std::string pairs = "first,second,label\n";
  std::vector<double> scores;
  for (std::size_t i = 0; i < n; ++i) {
    pairs += std::to_string(i) + "," + std::to_string(n + i) + "," + std::to_string(same[i]) + "\n";
    scores.push_back(cosine(rows[i], rows[n + i]));
  }
  write(dir + "/lfw_pairs.csv", pairs);
  write(dir + "/lfw_scores.csv", csv(scores, same));

  // An identity-labelled set: 30 identities with 1 to 5 images each (the singletons are probes
  // without a mate), points scattered around a centre per identity; a fixed LCG, no library RNG.
  std::uint64_t state = 12345;
  auto uniform = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return double(state >> 11) / double(1ull << 53) - 0.5;
  };
  std::vector<std::vector<double>> x;
  std::vector<long long> ids;
  for (int id = 0; id < 30; ++id) {
    std::vector<double> centre(8);
    for (double& c : centre) c = uniform();
    for (int k = 0; k < 1 + id % 5; ++k) {
      std::vector<double> p = centre;
      for (double& c : p) c += 0.9 * uniform();
      x.push_back(p);
      ids.push_back(1000 + 7 * id);  // labels need not be 0..K-1
    }
  }
  const std::size_t m = x.size();
  write(dir + "/id_emb.npy", matrix_npy(x, false));
  write(dir + "/ids_i8.npy", npy(dict("<i8", "(" + std::to_string(m) + ",)"), ints(ids, 8)));
  write(dir + "/ids_u2.npy", npy(dict("<u2", "(" + std::to_string(m) + ",)"), ints(ids, 2)));
  std::vector<double> all;
  std::vector<long long> genuine;
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = i + 1; j < m; ++j) {
      all.push_back(cosine(x[i], x[j]));
      genuine.push_back(ids[i] == ids[j]);
    }
  }
  write(dir + "/id_scores.csv", csv(all, genuine));
  // Leave-one-out ranks: the other images sorted by (score descending, index ascending); the
  // rank is the position of the first mate in that order.
  std::vector<long long> hits(11, 0);
  long long mated = 0;
  for (std::size_t i = 0; i < m; ++i) {
    std::vector<std::pair<double, std::size_t>> others;
    for (std::size_t j = 0; j < m; ++j) {
      if (j != i) others.emplace_back(-cosine(x[i], x[j]), j);
    }
    std::sort(others.begin(), others.end());
    for (std::size_t r = 0; r < others.size(); ++r) {
      if (ids[others[r].second] != ids[i]) continue;
      ++mated;
      for (std::size_t k = r + 1; k <= 10; ++k) ++hits[k];
      break;
    }
  }
  json expected = {{"probes", m}, {"mated_probes", mated}, {"cmc", json::array()}};
  for (std::size_t k = 1; k <= 10; ++k) expected["cmc"].push_back(double(hits[k]) / double(mated));
  write(dir + "/id_expected.json", expected.dump(1));

  // Malformed inputs; the comments give the line or element the message must name.
  write(dir + "/pairs_range.csv", "first,second,label\n0,1,1\n12000,3,0\n");  // line 3
  write(dir + "/pairs_index.csv", "first,second,label\n0,1,1\n2,-3,0\n");     // line 3
  write(dir + "/pairs_header.csv", "a,b,label\n0,1,1\n");                     // line 1
  write(dir + "/pairs_columns.csv", "first,second,label\n0,1\n");             // line 2
  write(dir + "/pairs_label.csv", "first,second,label\n0,1,1\n0,2,7\n");      // line 3
  write(dir + "/pairs_empty.csv", "first,second,label\n");
  write(dir + "/pairs_one_class.csv", "first,second,label\n0,1,1\n0,2,1\n");
  auto zero = x;
  std::fill(zero[5].begin(), zero[5].end(), 0.0);
  write(dir + "/emb_zero_row.npy", matrix_npy(zero, false));
  auto bad = x;
  bad[2][3] = std::nan("");
  write(dir + "/emb_nan.npy", matrix_npy(bad, false));
  write(dir + "/emb_1d.npy", npy(dict("<f8", "(8,)"), f8(x[0])));
  write(dir + "/emb_i4.npy", npy(dict("<i4", "(2, 4)"), ints({1, 2, 3, 4, 5, 6, 7, 8}, 4)));
  write(dir + "/emb_empty.npy", npy(dict("<f8", "(0, 8)"), ""));
  write(dir + "/ids_f8.npy",
        npy(dict("<f8", "(" + std::to_string(m) + ",)"), f8(std::vector<double>(m, 1.0))));
  write(dir + "/ids_short.npy", npy(dict("<i8", "(" + std::to_string(m - 1) + ",)"),
                                    ints(std::vector<long long>(ids.begin(), ids.end() - 1), 8)));
  write(dir + "/ids_one.npy",
        npy(dict("<i8", "(" + std::to_string(m) + ",)"), ints(std::vector<long long>(m, 4), 8)));
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

int check_kfold(const std::string& report_path, const std::string& lfw_path) {
  const json r = json::parse(std::ifstream(report_path)).at("kfold");
  const json e = json::parse(std::ifstream(lfw_path)).at("expected");
  bool ok = r.at("mode") == "insightface" && r.at("folds") == 10;
  ok &= close(r.at("accuracy_mean"), e.at("accuracy_mean"), "accuracy_mean");
  ok &= close(r.at("accuracy_std"), e.at("accuracy_std"), "accuracy_std");
  for (std::size_t f = 0; f < 10; ++f) {
    ok &= close(r.at("fold_accuracy").at(f), e.at("fold_accuracy").at(f), "fold_accuracy");
    ok &= close(r.at("fold_threshold").at(f), e.at("fold_best_distance_threshold").at(f),
                "fold_threshold");
  }
  std::cout << (ok ? "k-fold matches the vector\n" : "k-fold differs from the vector\n");
  return ok ? 0 : 1;
}

int check_identification(const std::string& report_path, const std::string& expected_path) {
  const json r = json::parse(std::ifstream(report_path)).at("identification");
  const json e = json::parse(std::ifstream(expected_path));
  bool ok = r.at("probes") == e.at("probes") && r.at("mated_probes") == e.at("mated_probes");
  for (std::size_t k = 0; k < 10; ++k) {
    ok &= close(r.at("cmc").at(k), e.at("cmc").at(k), "cmc rank " + std::to_string(k + 1), 0);
  }
  ok &= close(r.at("rank_1"), e.at("cmc").at(0), "rank_1", 0);
  ok &= close(r.at("rank_5"), e.at("cmc").at(4), "rank_5", 0);
  if (!ok) std::cerr << "report: " << r.dump() << "\nexpected: " << e.dump() << "\n";
  return ok ? 0 : 1;
}

/// Equal up to `tol` in every number (and exactly in everything else).
bool near(const json& a, const json& b, double tol) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return std::abs(x - y) <= tol * std::max(1.0, std::abs(y));
  }
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (const auto& [key, value] : a.items()) {
      if (!b.contains(key) || !near(value, b.at(key), tol)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!near(a[i], b[i], tol)) return false;
    }
    return true;
  }
  return a == b;
}

/// The two reports agree in every field but `ignored`, numbers within `tol` (relative).
int same_report(const std::string& a_path, const std::string& b_path,
                const std::vector<std::string>& ignored, double tol = 0) {
  json a = json::parse(std::ifstream(a_path));
  json b = json::parse(std::ifstream(b_path));
  for (const auto& key : ignored) {
    a.erase(key);
    b.erase(key);
  }
  if (tol == 0 ? a == b : near(a, b, tol)) return 0;
  std::cerr << "reports differ: " << json::diff(a, b).dump(1).substr(0, 2000) << "\n";
  return 1;
}

}  // namespace

/// The inputs of the protocol subcommands, from the protocol vectors in VECTORS: for each case
/// <name>_<field>.npy (features as float64, ids as int64) and, for IJB-C, <name>_pairs.csv; and
/// the malformed inputs the protocol tests refuse.
int make_protocol_files(const std::string& vectors, const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto mat = [](const json& rows) {
    return matrix_npy(rows.get<std::vector<std::vector<double>>>(), false);
  };
  auto ids = [](const json& v) {
    const auto x = v.get<std::vector<long long>>();
    std::string shape = "(";  // appended, not concatenated: g++ 12 -O3 warns (-Wrestrict)
    shape += std::to_string(x.size());
    shape += ",)";
    return npy(dict("<i8", shape), ints(x, 8));
  };
  for (const char* name :
       {"ijbc_small", "ident_open_set", "ident_multi_entry", "megaface_small", "all_pairs_1500"}) {
    const json c = json::parse(std::ifstream(vectors + "/" + name + ".json"));
    const std::string base = dir + "/" + name;
    for (const char* f : {"features", "gallery", "probes", "probe_features", "distractors"})
      if (c.contains(f)) write(base + "_" + f + ".npy", mat(c.at(f)));
    for (const char* f : {"templates", "medias", "gallery_labels", "probe_labels", "labels"})
      if (c.contains(f)) write(base + "_" + f + ".npy", ids(c.at(f)));
    if (c.contains("pairs")) {
      std::string out = "first,second,label\n";
      const auto& lab = c.at("pair_labels");
      for (std::size_t k = 0; k < c.at("pairs").size(); ++k) {
        out += std::to_string(c.at("pairs")[k][0].get<long long>()) + "," +
               std::to_string(c.at("pairs")[k][1].get<long long>()) + "," +
               std::to_string(lab[k].get<int>()) + "\n";
      }
      write(base + "_pairs.csv", out);
      // Malformed: a pair naming a template that has no row; a pair of non-numbers.
      std::string unknown = "first,second,label\n";
      unknown += std::to_string(c.at("pairs")[0][0].get<long long>());
      unknown += ",987654321,1\n";
      write(base + "_pairs_unknown.csv", unknown);
      write(base + "_pairs_text.csv", "first,second,label\nA,B,1\n");
    }
  }
  // Ids of the wrong length, negative ids, features of another dimension, two ids for them,
  // 100 distinct ids (for a 100-row set: no genuine pair).
  write(dir + "/ids_short.npy", npy(dict("<i8", "(3,)"), ints({0, 1, 2}, 8)));
  write(dir + "/ids_negative.npy", npy(dict("<i8", "(2,)"), ints({0, -1}, 8)));
  write(dir + "/features_d3.npy", matrix_npy({{1, 0, 0}, {0, 1, 0}}, false));
  write(dir + "/ids_two.npy", npy(dict("<i8", "(2,)"), ints({0, 1}, 8)));
  std::vector<long long> distinct(100);
  for (std::size_t i = 0; i < distinct.size(); ++i) distinct[i] = static_cast<long long>(i);
  write(dir + "/ids_distinct_100.npy", npy(dict("<i8", "(100,)"), ints(distinct, 8)));
  return 0;
}

/// Every field of the vector's `expected` against the report's field of the same key (ids and
/// counts exactly, every value within 1e-9; an "inf" threshold must be null).
int check_protocol(const std::string& report_path, const std::string& vector_path,
                   double auc_eer_tol = 1e-9) {
  const json r = json::parse(std::ifstream(report_path));
  const json e = json::parse(std::ifstream(vector_path)).at("expected");
  bool ok = true;
  std::size_t compared = 0;
  std::function<void(const json&, const json&, const std::string&)> walk =
      [&](const json& got, const json& want, const std::string& at) {
        if (want.is_object()) {
          for (const auto& item : want.items()) {
            if (!got.is_object() || !got.contains(item.key())) {
              std::cerr << at << "." << item.key() << ": missing from the report\n";
              ok = false;
              continue;
            }
            walk(got.at(item.key()), item.value(), at + "." + item.key());
          }
        } else if (want.is_array()) {
          if (!got.is_array() || got.size() != want.size()) {
            std::cerr << at << ": got " << got.dump() << ", want " << want.dump() << "\n";
            ok = false;
            return;
          }
          for (std::size_t i = 0; i < want.size(); ++i)
            walk(got[i], want[i], at + "[" + std::to_string(i) + "]");
        } else {
          const bool binned = at == "report.auc" || at == "report.eer";
          ok = close(got, want, at, binned ? auc_eer_tol : 1e-9) && ok;
          ++compared;
        }
      };
  // The per-template and per-pair values are the library's results (checked by
  // conformance_protocols), not the report's.
  json expected = e;
  for (const char* key : {"template_ids", "template_features", "scores"}) expected.erase(key);
  walk(r, expected, "report");
  std::cerr << compared << " values compared\n";
  return ok && compared > 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 3 && a[0] == "make-files") return make_files(a[1], a[2]);
    if (a.size() == 4 && a[0] == "check-vector") return check_vector(a[1], a[2], a[3]);
    if (a.size() == 3 && a[0] == "make-embedding-files") return make_embedding_files(a[1], a[2]);
    if (a.size() == 3 && a[0] == "check-kfold") return check_kfold(a[1], a[2]);
    if (a.size() == 3 && a[0] == "check-identification") return check_identification(a[1], a[2]);
    if (a.size() == 3 && a[0] == "same-report") return same_report(a[1], a[2], {"input"});
    if (a.size() == 3 && a[0] == "make-protocol-files") return make_protocol_files(a[1], a[2]);
    if (a.size() == 3 && a[0] == "check-protocol") return check_protocol(a[1], a[2]);
    if (a.size() == 4 && a[0] == "check-protocol") {
      return check_protocol(a[1], a[2], std::stod(a[3]));
    }
    if (a.size() == 3 && a[0] == "same-verification") {
      // Scores from embeddings and the helper's cosines differ in the last bits: thresholds
      // agree to 1e-12, rates exactly unless two scores swap places.
      return same_report(a[1], a[2], {"input", "embeddings", "identification"}, 1e-12);
    }
  } catch (const std::exception& e) {
    std::cerr << "eval_test_helper: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: eval_test_helper make-files VECTOR DIR | make-embedding-files LFW DIR |"
               " check-vector REPORT VECTOR RULE | check-kfold REPORT LFW |"
               " check-identification REPORT EXPECTED | same-report A B | same-verification A B |"
               " make-protocol-files VECTORS DIR | check-protocol REPORT VECTOR [TOL]\n";
  return 2;
}
