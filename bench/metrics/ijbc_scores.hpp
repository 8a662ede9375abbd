// Seeded synthetic verification scores of IJB-C 1:1 size (19,557 genuine and 15,638,932
// impostor pairs), shared by the benchmark and the scikit-learn comparison helpers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace ijbc {

constexpr std::int64_t genuine = 19557;
constexpr std::int64_t impostor = 15638932;

/// Genuine ~ N(0.6, 0.15), impostor ~ N(0, 0.1), both clamped to [-1, 1], as float (as cosine
/// scores of float embeddings are). Genuine pairs sit every 800th position, the rest is
/// impostor, so the labels are interleaved rather than sorted.
inline void make(std::vector<float>& scores, std::vector<std::uint8_t>& labels,
                 std::uint64_t seed = 20240601) {
  const std::int64_t n = genuine + impostor;
  scores.resize(std::size_t(n));
  labels.assign(std::size_t(n), 0);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.6f, 0.15f), im(0.0f, 0.1f);
  std::int64_t placed = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool is_genuine = i % 800 == 0 && placed < genuine;
    placed += is_genuine;
    labels[std::size_t(i)] = is_genuine;
    scores[std::size_t(i)] = std::clamp(is_genuine ? g(rng) : im(rng), -1.0f, 1.0f);
  }
}

/// Binary file: int64 n, then n float32 scores, then n uint8 labels (numpy.fromfile reads it).
inline void write(const std::string& path, const std::vector<float>& s,
                  const std::vector<std::uint8_t>& l) {
  std::ofstream out(path, std::ios::binary);
  const std::int64_t n = std::int64_t(s.size());
  out.write(reinterpret_cast<const char*>(&n), sizeof n);
  out.write(reinterpret_cast<const char*>(s.data()), std::streamsize(s.size() * sizeof(float)));
  out.write(reinterpret_cast<const char*>(l.data()), std::streamsize(l.size()));
}

inline bool read(const std::string& path, std::vector<float>& s, std::vector<std::uint8_t>& l) {
  std::ifstream in(path, std::ios::binary);
  std::int64_t n = 0;
  if (!in.read(reinterpret_cast<char*>(&n), sizeof n) || n <= 0) return false;
  s.resize(std::size_t(n));
  l.resize(std::size_t(n));
  in.read(reinterpret_cast<char*>(s.data()), std::streamsize(s.size() * sizeof(float)));
  in.read(reinterpret_cast<char*>(l.data()), std::streamsize(l.size()));
  return bool(in);
}

}  // namespace ijbc
