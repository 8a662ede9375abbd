// Test support: naive reference losses in long double, written independently of the library:
// the full cosine matrix, direct sums of logs and exponentials, acos/cos for the angular
// margins. Values only; gradients are checked by finite differences (test_gradcheck_losses).
#pragma once

#include <cmath>
#include <vector>

#include "unitsface/core/config.hpp"

namespace unitsface::test::reference {

using ld = long double;

struct pair_set {
  std::vector<std::vector<ld>> cos;    // B x N
  std::vector<std::vector<int>> role;  // +1 positive, -1 negative, 0 none
};

/// refs == nullptr: in-batch pairs (the anchors themselves, j != i).
inline pair_set pairs(const std::vector<double>& x, const std::vector<index_t>& y,
                      const std::vector<double>* refs, const std::vector<unsigned char>* valid,
                      index_t B, index_t N, index_t D) {
  const std::vector<double>& r = refs != nullptr ? *refs : x;
  if (refs == nullptr) N = B;
  auto norm = [&](const std::vector<double>& m, index_t i) {
    ld s = 0;
    for (index_t k = 0; k < D; ++k) s += ld(m[i * D + k]) * m[i * D + k];
    return std::max(std::sqrt(s), ld(1e-5));
  };
  pair_set p;
  p.cos.assign(B, std::vector<ld>(N, 0));
  p.role.assign(B, std::vector<int>(N, 0));
  for (index_t i = 0; i < B; ++i) {
    for (index_t j = 0; j < N; ++j) {
      ld dot = 0;
      for (index_t k = 0; k < D; ++k) dot += ld(x[i * D + k]) * r[j * D + k];
      p.cos[i][j] = dot / (norm(x, i) * norm(r, j));
      const index_t label_j = refs != nullptr ? j : y[j];
      const bool skip = (refs == nullptr && i == j) || (valid != nullptr && (*valid)[j] == 0);
      p.role[i][j] = skip ? 0 : (label_j == y[i] ? 1 : -1);
    }
  }
  return p;
}

inline ld log1pexp(ld z) {
  return std::log1p(std::exp(z));
}  // fine for |z| << 11000

/// Per-pair or log-of-sums binary loss, mean over anchors; bias has 1 or N entries.
inline double binary(const pair_set& p, const std::vector<double>& bias, bool log_of_sums,
                     bool clamp, double s, double m) {
  ld total = 0;
  for (std::size_t i = 0; i < p.cos.size(); ++i) {
    ld sum_pos = 0, sum_neg = 0, row = 0;
    for (std::size_t j = 0; j < p.cos[i].size(); ++j) {
      if (p.role[i][j] == 0) continue;
      const ld b = bias.size() == 1 ? bias[0] : bias[j];
      if (p.role[i][j] > 0) {
        ld u = ld(s) * (p.cos[i][j] - m) - b;
        if (clamp) u = std::min(std::max(u, ld(-s)), ld(s));
        row += log1pexp(-u);
        sum_pos += std::exp(-u);
      } else {
        ld v = ld(s) * p.cos[i][j] - b;
        if (clamp) v = std::min(std::max(v, ld(-s)), ld(s));
        row += log1pexp(v);
        sum_neg += std::exp(v);
      }
    }
    total += log_of_sums ? std::log1p(sum_pos) + std::log1p(sum_neg) : row;
  }
  return double(total / p.cos.size());
}

/// Sample-to-sample softmax: mean over positives of log(1 + sum_n e^{s (c_n - c_p + m)}).
inline double ss_softmax(const pair_set& p, double s, double m) {
  ld total = 0;
  for (std::size_t i = 0; i < p.cos.size(); ++i) {
    ld acc = 0;
    int npos = 0;
    for (std::size_t q = 0; q < p.cos[i].size(); ++q) {
      if (p.role[i][q] <= 0) continue;
      ld inner = 0;
      for (std::size_t n = 0; n < p.cos[i].size(); ++n)
        if (p.role[i][n] < 0) inner += std::exp(ld(s) * (p.cos[i][n] - p.cos[i][q] + m));
      acc += std::log1p(inner);
      ++npos;
    }
    if (npos > 0) total += acc / npos;
  }
  return double(total / p.cos.size());
}

/// Cross-entropy with the target logit s * target(c) (class references, one positive).
template <class F>
double softmax(const pair_set& p, double s, F target) {
  ld total = 0;
  for (std::size_t i = 0; i < p.cos.size(); ++i) {
    ld denom = 0, zt = 0;
    for (std::size_t j = 0; j < p.cos[i].size(); ++j) {
      const ld z = p.role[i][j] > 0 ? ld(s) * target(p.cos[i][j]) : ld(s) * p.cos[i][j];
      if (p.role[i][j] > 0) zt = z;
      denom += std::exp(z);
    }
    total += std::log(denom) - zt;
  }
  return double(total / p.cos.size());
}

}  // namespace unitsface::test::reference
