// k-fold accuracy and identification (CMC, open-set TPIR@FPIR) against brute force.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "reference.hpp"
#include "unitsface/metrics.hpp"

namespace um = unitsface::metrics;
using unitsface::index_t;
using unitsface::matrix_view;
using unitsface::vector_view;

namespace {

template <class T>
vector_view<const T> view(const std::vector<T>& v) {
  return vector_view<const T>(v.data(), index_t(v.size()));
}

/// Fold sizes as scikit-learn's KFold writes them: fold_sizes = full(k, n // k);
/// fold_sizes[:n % k] += 1.
std::vector<index_t> kfold_sizes(index_t n, index_t k) {
  std::vector<index_t> sz(std::size_t(k), n / k);
  for (index_t i = 0; i < n % k; ++i) ++sz[std::size_t(i)];
  return sz;
}

/// Brute-force exact-mode k-fold: every candidate threshold (each score, and +inf) scored on
/// the training folds by a full scan; the highest threshold among the best.
void ref_kfold_exact(const std::vector<double>& s, const std::vector<int>& y, index_t k,
                     std::vector<double>& acc, std::vector<double>& thr) {
  const auto sz = kfold_sizes(index_t(s.size()), k);
  std::vector<double> cand(s.begin(), s.end());
  cand.push_back(ref::inf);
  std::sort(cand.begin(), cand.end(), std::greater<>());
  index_t lo = 0;
  for (index_t f = 0; f < k; ++f) {
    const index_t hi = lo + sz[std::size_t(f)];
    double best = -1, best_t = 0;
    for (double t : cand) {
      double correct = 0;
      for (index_t i = 0; i < index_t(s.size()); ++i) {
        if (i >= lo && i < hi) continue;
        correct += (s[i] >= t) == (y[i] == 1);
      }
      if (correct > best) best = correct, best_t = t;
    }
    double ok = 0;
    for (index_t i = lo; i < hi; ++i) ok += (s[i] >= best_t) == (y[i] == 1);
    acc.push_back(ok / double(hi - lo));
    thr.push_back(best_t);
    lo = hi;
  }
}

/// Brute-force insightface mode on distances: 400 grid thresholds i * 0.01, same when
/// d < t, first best.
void ref_kfold_insightface(const std::vector<double>& d, const std::vector<int>& y, index_t k,
                           std::vector<double>& acc, std::vector<double>& thr) {
  const auto sz = kfold_sizes(index_t(d.size()), k);
  index_t lo = 0;
  for (index_t f = 0; f < k; ++f) {
    const index_t hi = lo + sz[std::size_t(f)];
    double best = -1, best_t = 0;
    for (int g = 0; g < 400; ++g) {
      const double t = g * 0.01;
      double correct = 0;
      for (index_t i = 0; i < index_t(d.size()); ++i) {
        if (i >= lo && i < hi) continue;
        correct += (d[i] < t) == (y[i] == 1);
      }
      if (correct > best) best = correct, best_t = t;
    }
    double ok = 0;
    for (index_t i = lo; i < hi; ++i) ok += (d[i] < best_t) == (y[i] == 1);
    acc.push_back(ok / double(hi - lo));
    thr.push_back(best_t);
    lo = hi;
  }
}

void random_pairs(std::uint64_t seed, int n, std::vector<double>& s, std::vector<int>& y,
                  double step) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.45, 0.2), im(0.05, 0.2);
  std::bernoulli_distribution same(0.5);
  for (int i = 0; i < n; ++i) {
    const bool p = same(rng);
    double v = std::clamp(p ? g(rng) : im(rng), -1.0, 1.0);
    if (step > 0) v = std::round(v / step) * step;
    s.push_back(v);
    y.push_back(p);
  }
}

}  // namespace

TEST_CASE("k-fold exact mode matches brute force, uneven folds", "[metrics][kfold]") {
  for (int n : {203, 60}) {
    std::vector<double> s;
    std::vector<int> y;
    random_pairs(std::uint64_t(n), n, s, y, n == 60 ? 0.05 : 0.0);
    std::vector<double> acc, thr;
    ref_kfold_exact(s, y, 10, acc, thr);
    const auto r = um::kfold_accuracy(view(s), view(y), {10, um::kfold_mode::exact});
    CHECK(r.fold_accuracy == acc);
    CHECK(r.fold_threshold == thr);
    double mean = 0, var = 0;
    for (double a : acc) mean += a / 10.0;
    for (double a : acc) var += (a - mean) * (a - mean) / 10.0;
    CHECK(r.accuracy_mean == Approx(mean).margin(1e-15));
    CHECK(r.accuracy_std == Approx(std::sqrt(var)).margin(1e-15));
  }
}

TEMPLATE_TEST_CASE("k-fold insightface mode matches brute force on distances", "[metrics][kfold]",
                   float, double) {
  std::vector<double> s;
  std::vector<int> y;
  random_pairs(77, 257, s, y, 0.0);
  std::vector<TestType> st(s.begin(), s.end());
  std::vector<double> d;
  for (auto v : st) d.push_back(2.0 - 2.0 * double(v));
  std::vector<double> acc, thr;
  ref_kfold_insightface(d, y, 7, acc, thr);
  const auto r = um::kfold_accuracy(view(st), view(y), {7, um::kfold_mode::insightface});
  CHECK(r.fold_accuracy == acc);
  CHECK(r.fold_threshold == thr);
}

TEST_CASE("k-fold from embeddings equals k-fold from their cosine scores", "[metrics][kfold]") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd(0.0, 1.0);
  const index_t n = 120, dim = 8;
  std::vector<double> a(n * dim), b(n * dim), s;
  std::vector<int> y;
  for (index_t i = 0; i < n; ++i) {
    const bool same = i % 2 == 0;
    for (index_t c = 0; c < dim; ++c) {
      a[i * dim + c] = nd(rng);
      b[i * dim + c] = same ? a[i * dim + c] + 0.8 * nd(rng) : nd(rng);
    }
    double dot = 0, na = 0, nb = 0;
    for (index_t c = 0; c < dim; ++c) {
      dot += a[i * dim + c] * b[i * dim + c];
      na += a[i * dim + c] * a[i * dim + c];
      nb += b[i * dim + c] * b[i * dim + c];
    }
    s.push_back(dot / std::sqrt(na * nb));
    y.push_back(same);
  }
  const matrix_view<const double> A(a.data(), n, dim), B(b.data(), n, dim);
  const auto from_emb = um::kfold_accuracy(A, B, view(y), {10, um::kfold_mode::exact});
  std::vector<double> acc, thr;
  ref_kfold_exact(s, y, 10, acc, thr);
  CHECK(from_emb.fold_accuracy == acc);
  for (std::size_t i = 0; i < thr.size(); ++i)
    CHECK(from_emb.fold_threshold[i] == Approx(thr[i]).margin(1e-12));
  // insightface mode: distances of normalised rows.
  std::vector<double> d;
  for (double v : s) d.push_back(2.0 - 2.0 * v);
  std::vector<double> acc2, thr2;
  ref_kfold_insightface(d, y, 10, acc2, thr2);
  const auto ins = um::kfold_accuracy(A, B, view(y), {10, um::kfold_mode::insightface});
  CHECK(ins.fold_accuracy == acc2);
  CHECK(ins.fold_threshold == thr2);
}

TEST_CASE("bad k-fold input throws invalid_argument naming the argument", "[metrics][errors]") {
  const std::vector<double> s = {0.1, 0.9, 0.3, 0.7};
  const std::vector<int> y = {0, 1, 0, 1}, bad = {0, 1, 3, 1}, short_y = {0, 1};
  using ref::thrown_argument;
  CHECK(thrown_argument([&] { um::kfold_accuracy(view(s), view(y), {5}); }) == "folds");
  CHECK(thrown_argument([&] { um::kfold_accuracy(view(s), view(y), {1}); }) == "folds");
  CHECK(thrown_argument([&] { um::kfold_accuracy(view(s), view(bad), {2}); }) == "labels");
  CHECK(thrown_argument([&] { um::kfold_accuracy(view(s), view(short_y), {2}); }) == "labels");
  std::vector<double> nan_s = s;
  nan_s[2] = std::nan("");
  CHECK(thrown_argument([&] { um::kfold_accuracy(view(nan_s), view(y), {2}); }) == "scores");
  const std::vector<double> e(8, 1.0);
  const matrix_view<const double> E(e.data(), 4, 2), E3(e.data(), 3, 2);
  CHECK(thrown_argument([&] { um::kfold_accuracy(E, E3, view(y), {2}); }) == "embeddings2");
  CHECK(thrown_argument([&] { um::kfold_accuracy(E, E, view(short_y), {2}); }) == "issame");
  CHECK(thrown_argument([&] { um::kfold_accuracy(E, E, view(bad), {2}); }) == "issame");
}

namespace {

/// Brute-force rank: gallery ordered by (score desc, index asc); position of the first mate.
index_t ref_rank(const std::vector<double>& row, const std::vector<int>& gl, int label) {
  std::vector<index_t> idx(row.size());
  std::iota(idx.begin(), idx.end(), index_t(0));
  std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) { return row[a] > row[b]; });
  for (std::size_t p = 0; p < idx.size(); ++p) {
    if (gl[idx[p]] == label) return index_t(p) + 1;
  }
  return 0;
}

struct ident_set {
  index_t P, G, D;
  std::vector<double> probes, gallery, sim;
  std::vector<int> pl, gl;
};

/// Gallery: identities 0..ids-1 (some twice) plus distractors (-1); probes: noisy copies,
/// some of identities absent from the gallery (non-mated).
ident_set make_ident(std::uint64_t seed, int ids, int distractors, int probes, double step) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  ident_set s;
  s.D = 6;
  std::vector<std::vector<double>> centre(std::size_t(ids + 20));
  for (auto& c : centre) {
    for (int k = 0; k < s.D; ++k) c.push_back(nd(rng));
  }
  auto noisy = [&](int id, std::vector<double>& out) {
    for (int k = 0; k < s.D; ++k)
      out.push_back(centre[std::size_t(id)][std::size_t(k)] + 0.9 * nd(rng));
  };
  for (int i = 0; i < ids; ++i) {
    for (int rep = 0; rep < 1 + (i % 3 == 0); ++rep) noisy(i, s.gallery), s.gl.push_back(i);
  }
  for (int i = 0; i < distractors; ++i) {
    for (int k = 0; k < s.D; ++k) s.gallery.push_back(nd(rng));
    s.gl.push_back(-1);
  }
  for (int i = 0; i < probes; ++i) {
    const int id = int(rng() % std::uint64_t(ids + 20));  // ids..ids+19 are not in the gallery
    noisy(id, s.probes);
    s.pl.push_back(id);
  }
  s.P = index_t(s.pl.size());
  s.G = index_t(s.gl.size());
  for (index_t i = 0; i < s.P; ++i) {
    for (index_t j = 0; j < s.G; ++j) {
      double dot = 0, a = 0, b = 0;
      for (index_t k = 0; k < s.D; ++k) {
        dot += s.probes[i * s.D + k] * s.gallery[j * s.D + k];
        a += s.probes[i * s.D + k] * s.probes[i * s.D + k];
        b += s.gallery[j * s.D + k] * s.gallery[j * s.D + k];
      }
      double v = dot / std::sqrt(a * b);
      if (step > 0) v = std::round(v / step) * step;
      s.sim.push_back(v);
    }
  }
  return s;
}

}  // namespace

TEST_CASE("CMC from a similarity matrix matches brute-force ranks, ties included",
          "[metrics][identification]") {
  for (double step : {0.0, 0.1}) {
    const auto s = make_ident(3, 40, 60, 150, step);
    const matrix_view<const double> M(s.sim.data(), s.P, s.G);
    const auto out = um::identify(M, view(s.pl), view(s.gl));
    std::vector<double> cmc(10, 0.0);
    double mated = 0;
    for (index_t i = 0; i < s.P; ++i) {
      const std::vector<double> row(s.sim.begin() + i * s.G, s.sim.begin() + (i + 1) * s.G);
      const index_t r = ref_rank(row, s.gl, s.pl[std::size_t(i)]);
      CHECK(out[std::size_t(i)].rank == r);
      CHECK(out[std::size_t(i)].mated == (r > 0));
      CHECK(out[std::size_t(i)].top_score == *std::max_element(row.begin(), row.end()));
      for (index_t k = 1; k <= 10; ++k) cmc[std::size_t(k - 1)] += (r >= 1 && r <= k);
      mated += r > 0;
    }
    REQUIRE(mated < double(s.P));    // the set has non-mated probes: they must not count
    for (auto& c : cmc) c /= mated;  // over the mated probes only (IJB-C 1:N, NIST)
    CHECK(um::cmc_curve(M, view(s.pl), view(s.gl), 10) == cmc);
    CHECK(um::rank_k_accuracy(out, 1) == cmc[0]);
  }
}

TEST_CASE("identification from embeddings equals the similarity-matrix path",
          "[metrics][identification]") {
  const auto s = make_ident(8, 30, 100, 80, 0.0);
  const matrix_view<const double> Pm(s.probes.data(), s.P, s.D), Gm(s.gallery.data(), s.G, s.D);
  const auto a = um::identify(Pm, Gm, view(s.pl), view(s.gl));
  const auto b =
      um::identify(matrix_view<const double>(s.sim.data(), s.P, s.G), view(s.pl), view(s.gl));
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].rank == b[i].rank);
    CHECK(a[i].top_score == Approx(b[i].top_score).margin(1e-12));
  }
}

TEST_CASE("open-set TPIR@FPIR matches a brute-force threshold scan", "[metrics][identification]") {
  for (double step : {0.0, 0.05}) {
    const auto s = make_ident(21, 50, 80, 300, step);
    const auto out =
        um::identify(matrix_view<const double>(s.sim.data(), s.P, s.G), view(s.pl), view(s.gl));
    const std::vector<double> targets = {0.01, 0.05, 0.2, 1.0};
    const auto got = um::tpir_at_fpir(out, targets);
    double mated = 0, non = 0;
    std::vector<double> cand = {ref::inf};
    for (const auto& o : out) {
      (o.mated ? mated : non) += 1;
      cand.push_back(o.top_score);
    }
    std::sort(cand.begin(), cand.end(), std::greater<>());
    for (std::size_t k = 0; k < targets.size(); ++k) {
      double best_tpir = -1, best_t = 0, best_fpir = 0;
      for (double t : cand) {  // descending: the first best is the highest threshold
        double hit = 0, fa = 0;
        for (const auto& o : out) {
          if (o.mated && o.rank == 1 && o.top_score >= t) ++hit;
          if (!o.mated && o.top_score >= t) ++fa;
        }
        if (fa / non <= targets[k] && hit / mated > best_tpir) {
          best_tpir = hit / mated, best_t = t, best_fpir = fa / non;
        }
      }
      CHECK(got[k].tpir == best_tpir);
      CHECK(got[k].threshold == best_t);
      CHECK(got[k].fpir == best_fpir);
    }
  }
}

TEST_CASE("bad identification input throws invalid_argument naming the argument",
          "[metrics][errors]") {
  std::vector<double> sim = {0.9, 0.1, 0.2, 0.8};
  const std::vector<int> pl = {0, 1}, gl = {0, 1}, gl3 = {0, 1, 2};
  const matrix_view<const double> M(sim.data(), 2, 2);
  using ref::thrown_argument;
  CHECK(thrown_argument([&] { um::identify(M, view(gl3), view(gl)); }) == "probe_labels");
  CHECK(thrown_argument([&] { um::identify(M, view(pl), view(gl3)); }) == "gallery_labels");
  CHECK(thrown_argument([&] { um::cmc_curve(M, view(pl), view(gl), 0); }) == "max_rank");
  auto nan_sim = sim;
  nan_sim[1] = std::nan("");
  CHECK(thrown_argument([&] {
          um::identify(matrix_view<const double>(nan_sim.data(), 2, 2), view(pl), view(gl));
        }) == "similarity");
  const auto out = um::identify(M, view(pl), view(gl));  // every probe mated
  CHECK(thrown_argument([&] { um::tpir_at_fpir(out, {0.1}); }) == "outcomes");
  CHECK(thrown_argument([&] { um::tpir_at_fpir(out, {0.0}); }) == "fpir_targets");
  // No probe's identity in the gallery: no rank to count, the CMC is undefined.
  const std::vector<int> strangers = {7, 8};
  CHECK(thrown_argument([&] { um::cmc_curve(M, view(strangers), view(gl), 1); }) == "outcomes");
  // One mated probe (rank 2) and one stranger: the CMC is over the mated one alone.
  const std::vector<int> one_mated = {1, 9};
  CHECK(um::cmc_curve(M, view(one_mated), view(gl), 2) == std::vector<double>{0.0, 1.0});
}

TEMPLATE_TEST_CASE(
    "k-fold folds follow scikit-learn KFold sizes, the first n mod k folds one pair larger",
    "[metrics][kfold]", float, double) {
  using T = TestType;
  // 7 pairs, 3 folds: KFold's folds are {0, 1, 2}, {3, 4}, {5, 6}. Genuine pairs score 0.75
  // (d^2 = 0.5), impostor pairs -0.75 (d^2 = 3.5), and pair 2 is a genuine pair scoring
  // -0.875 (d^2 = 3.75), below every impostor: wrong under any threshold that the training
  // folds choose. So only the fold holding pair 2 loses one pair, and its accuracy shows its
  // size: 2/3. Folds of sizes 2, 2, 3 (the extra pair in the last fold) would put pair 2 in
  // the second fold, of accuracy 1/2.
  const std::vector<T> s = {T(0.75), T(-0.75), T(-0.875), T(0.75), T(-0.75), T(0.75), T(-0.75)};
  const std::vector<int> y = {1, 0, 1, 1, 0, 1, 0};
  const auto ex = um::kfold_accuracy(view(s), view(y), {3, um::kfold_mode::exact});
  CHECK(ex.fold_accuracy == std::vector<double>{2.0 / 3.0, 1.0, 1.0});
  // Every training set holds a 0.75 genuine pair: the highest best threshold is 0.75.
  CHECK(ex.fold_threshold == std::vector<double>(3, 0.75));
  const auto ins = um::kfold_accuracy(view(s), view(y), {3, um::kfold_mode::insightface});
  CHECK(ins.fold_accuracy == std::vector<double>{2.0 / 3.0, 1.0, 1.0});
  // The first grid threshold with 0.5 < t is 0.51 (arange's 51 * 0.01).
  CHECK(ins.fold_threshold == std::vector<double>(3, 51 * 0.01));
  // 11 pairs, 4 folds: sizes 3, 3, 3, 2; the wrong genuine pair at index 8 sits in the third
  // fold (2/3), and in the fourth under sizes 2, 3, 3, 3 (the extra pairs last).
  std::vector<T> s11;
  std::vector<int> y11;
  for (int i = 0; i < 11; ++i) {
    s11.push_back(i == 8 ? T(-0.875) : i % 2 ? T(-0.75) : T(0.75));
    y11.push_back(i == 8 || i % 2 == 0);
  }
  for (auto mode : {um::kfold_mode::exact, um::kfold_mode::insightface}) {
    const auto r = um::kfold_accuracy(view(s11), view(y11), {4, mode});
    CHECK(r.fold_accuracy == std::vector<double>{1.0, 1.0, 2.0 / 3.0, 1.0});
  }
}

TEMPLATE_TEST_CASE("k-fold matches brute force for uneven fold sizes, both modes",
                   "[metrics][kfold]", float, double) {
  // Remainders n mod k from 1 to 4 (n = 23, 101, 163 leave a remainder for every k; n = 60
  // only for k = 7, its even splits staying as a control); scores with ties for odd k.
  for (int n : {23, 60, 101, 163}) {
    for (index_t k : {index_t(2), index_t(3), index_t(4), index_t(7), index_t(10)}) {
      std::vector<double> sd;
      std::vector<int> y;
      random_pairs(std::uint64_t(n * 31 + k), n, sd, y, k % 2 ? 0.05 : 0.0);
      const std::vector<TestType> s(sd.begin(), sd.end());
      std::vector<double> sv(s.begin(), s.end()), d;  // the scores as the library reads them
      for (double v : sv) d.push_back(2.0 - 2.0 * v);
      INFO("n " << n << ", k " << k);
      std::vector<double> acc, thr, acc2, thr2;
      ref_kfold_exact(sv, y, k, acc, thr);
      const auto ex = um::kfold_accuracy(view(s), view(y), {k, um::kfold_mode::exact});
      CHECK(ex.fold_accuracy == acc);
      CHECK(ex.fold_threshold == thr);
      double mean = 0, var = 0;
      for (double a : acc) mean += a / double(k);
      for (double a : acc) var += (a - mean) * (a - mean) / double(k);
      CHECK(ex.accuracy_mean == Approx(mean).epsilon(0).margin(1e-15));
      CHECK(ex.accuracy_std == Approx(std::sqrt(var)).epsilon(0).margin(1e-15));
      ref_kfold_insightface(d, y, k, acc2, thr2);
      const auto ins = um::kfold_accuracy(view(s), view(y), {k, um::kfold_mode::insightface});
      CHECK(ins.fold_accuracy == acc2);
      CHECK(ins.fold_threshold == thr2);
    }
  }
}

TEMPLATE_TEST_CASE("zero-norm embedding rows are refused, naming the argument", "[metrics][errors]",
                   float, double) {
  using T = TestType;
  using ref::thrown_argument;
  const std::vector<int> same = {1, 0, 1, 0}, pl = {0, 1, 2, 3}, gl = {3, 2, 1, 0};
  const std::vector<T> a0 = {1, 0, 0, 1, 1, 1, 1, -1}, b0 = {1, 1, 0, 1, -1, 0, 1, 0};
  std::vector<T> a = a0, b = b0;
  const matrix_view<const T> A(a.data(), 4, 2), B(b.data(), 4, 2);
  const auto modes = {um::kfold_mode::exact, um::kfold_mode::insightface};
  // Without a zero row the same inputs are accepted, so each refusal below is the zero row's.
  for (auto mode : modes) {
    CHECK(thrown_argument([&] {
            um::kfold_accuracy(A, B, view(same), {2, mode});
          }) == "<no exception>");
  }
  CHECK(thrown_argument([&] { um::identify(A, B, view(pl), view(gl)); }) == "<no exception>");
  // A zero row has no direction (its cosine would be 0 / 0); both signs of zero.
  for (T zero : {T(0.0), T(-0.0)}) {
    for (auto mode : modes) {
      a = a0, b = b0;
      a[4] = a[5] = zero;  // embeddings1, row 2
      CHECK(thrown_argument([&] {
              um::kfold_accuracy(A, B, view(same), {2, mode});
            }) == "embeddings1");
      a = a0;
      b[6] = b[7] = zero;  // embeddings2, row 3
      CHECK(thrown_argument([&] {
              um::kfold_accuracy(A, B, view(same), {2, mode});
            }) == "embeddings2");
    }
    // Identification from embeddings: the probes are A, the gallery B.
    a = a0, b = b0;
    a[0] = a[1] = zero;  // probes, row 0
    CHECK(thrown_argument([&] { um::identify(A, B, view(pl), view(gl)); }) == "probes");
    a = a0;
    b[2] = b[3] = zero;  // gallery, row 1
    CHECK(thrown_argument([&] { um::identify(A, B, view(pl), view(gl)); }) == "gallery");
  }
}
