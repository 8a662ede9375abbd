// unitsface metrics: genuine and impostor scores sorted apart, the basis of every exact
// verification metric.
//
// A ROC curve is a walk from the highest score down: each distinct score adds its genuine
// pairs to TP and its impostor pairs to FP. Sorting the two classes apart and merging them
// while walking gives every ROC point without ever storing the curve, so AUC, EER and TAR@FAR
// cost one pass and O(1) extra state. Only the keys are held: 4 bytes per float score (8 per
// double), no labels and no indices.
//
// The sort is a radix sort on order-preserving integer keys: one counting pass over the input
// (which also validates it), one scatter pass into 65536 buckets by the top 16 bits of the
// key, then each bucket is sorted on its remaining bits by an LSD radix sort through a small
// scratch buffer. Peak extra memory is the key arrays plus 1 MiB of counts plus a scratch of
// the largest bucket (capped; a bucket above the cap falls back to std::sort in place), so it
// stays near 4 bytes per float score instead of the 8 of a plain LSD sort.
#pragma once

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/validation.hpp"

namespace unitsface::metrics {
namespace detail {

template <class T>
struct key_traits;
template <>
struct key_traits<float> {
  using type = std::uint32_t;
};
template <>
struct key_traits<double> {
  using type = std::uint64_t;
};
template <class T>
using score_key_t = typename key_traits<T>::type;

/// Maps a finite score to an unsigned integer with the same order: positive numbers get the
/// sign bit set, negative ones are bit-inverted (their magnitude order reverses). -0.0 is
/// mapped as +0.0 first, because the two compare equal and must form one ROC point.
template <class T>
score_key_t<T> score_to_key(T x) {
  using K = score_key_t<T>;
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  if (x == T(0)) x = T(0);
  const K b = std::bit_cast<K>(x);
  return (b & sign) ? K(~b) : K(b | sign);
}

template <class T>
T key_to_score(score_key_t<T> k) {
  using K = score_key_t<T>;
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  return std::bit_cast<T>((k & sign) ? K(k & ~sign) : K(~k));
}

constexpr int top_bits = 16;
constexpr index_t bucket_count = index_t(1) << top_bits;

template <class K>
index_t top_bucket(K k) {
  return static_cast<index_t>(k >> (sizeof(K) * 8 - top_bits));
}

/// Sorts a[0..n) ascending on the key bits below the top 16 (all keys of a bucket share
/// those). LSD radix on 8-bit digits through `scratch` (>= n elements); a digit that all keys
/// share is skipped, so clustered scores cost fewer passes.
template <class K>
void sort_bucket(K* a, index_t n, K* scratch) {
  if (n < 2) return;
  if (n <= 32) {  // insertion sort: cheaper than a radix pass for a handful of keys
    for (index_t i = 1; i < n; ++i) {
      const K v = a[i];
      index_t j = i;
      for (; j > 0 && a[j - 1] > v; --j) a[j] = a[j - 1];
      a[j] = v;
    }
    return;
  }
  constexpr int digits = (int(sizeof(K)) * 8 - top_bits) / 8;
  K* src = a;
  K* dst = scratch;
  index_t count[256];
  for (int d = 0; d < digits; ++d) {
    const int shift = 8 * d;
    std::fill(count, count + 256, index_t(0));
    for (index_t i = 0; i < n; ++i) ++count[(src[i] >> shift) & 0xFF];
    if (count[(src[0] >> shift) & 0xFF] == n) continue;  // one digit value: already in order
    index_t sum = 0;
    for (int b = 0; b < 256; ++b) {
      const index_t c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (index_t i = 0; i < n; ++i) dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
    std::swap(src, dst);
  }
  if (src != a) std::memcpy(a, src, static_cast<std::size_t>(n) * sizeof(K));
}

}  // namespace detail

/// The genuine and impostor scores of a verification set, each sorted ascending as
/// order-preserving keys. Build it once and pass it to several metrics to sort only once.
template <class T>
class sorted_scores {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "scores must be float or double");

 public:
  using score_type = T;
  using key_type = detail::score_key_t<T>;

  /// Scores and labels (1 = genuine, 0 = impostor) of the same length. Throws
  /// unitsface::invalid_argument for a length mismatch ("labels"), an empty set or a missing
  /// class ("labels"), a label other than 0/1 ("labels") and a non-finite score ("scores").
  template <class S, class L>
  sorted_scores(vector_view<S> scores, vector_view<L> labels) {
    static_assert(std::is_same_v<std::remove_const_t<S>, T>, "score type mismatch");
    const index_t n = scores.size();
    detail::require_size("labels", labels.size(), n);
    // Pass 1: validate and count keys per top-16-bit bucket, per class (genuine counts in
    // hist[0, 65536), impostor counts in hist[65536, 131072)). The checks are accumulated
    // without branching; a second, slow pass finds and reports the first bad element.
    using label_type = std::remove_const_t<L>;
    std::vector<index_t> hist(2 * detail::bucket_count, 0);
    index_t genuine = 0;
    bool bad = false;
    for (index_t i = 0; i < n; ++i) {
      const T s = scores[i];
      const label_type l = labels[i];
      const bool g = l == label_type(1);
      bad |= (!std::isfinite(s)) | ((!g) & (l != label_type(0)));
      genuine += g;
      ++hist[std::size_t(detail::top_bucket(detail::score_to_key(s)) +
                         (g ? 0 : detail::bucket_count))];
    }
    if (bad) {
      for (index_t i = 0; i < n; ++i) {
        detail::require_finite_score(scores[i], i, "scores");
        detail::genuine_label(labels[i], i, "labels");
      }
    }
    index_t* hg = hist.data();
    index_t* hi = hist.data() + detail::bucket_count;
    detail::require_both_classes(genuine, n - genuine, "labels");
    // Uninitialised storage: every element is written by the scatter below, so zero-filling
    // 4 bytes per score first would only cost time.
    genuine_size_ = genuine;
    impostor_size_ = n - genuine;
    genuine_.reset(new key_type[std::size_t(genuine_size_)]);
    impostor_.reset(new key_type[std::size_t(impostor_size_)]);
    // Bucket starts (exclusive prefix sums, in place) and the largest bucket.
    index_t largest = 0;
    for (index_t* h : {hg, hi}) {
      index_t sum = 0;
      for (index_t b = 0; b < detail::bucket_count; ++b) {
        const index_t c = h[b];
        largest = std::max(largest, c);
        h[b] = sum;
        sum += c;
      }
    }
    // Pass 2: scatter the keys into their buckets. hg/hi end up holding the bucket ends.
    for (index_t i = 0; i < n; ++i) {
      const key_type k = detail::score_to_key(scores[i]);
      const index_t b = detail::top_bucket(k);
      if (labels[i] == label_type(1)) {
        genuine_[hg[b]++] = k;
      } else {
        impostor_[hi[b]++] = k;
      }
    }
    // Sort each bucket on its low bits. The scratch buffer is capped so that one huge bucket
    // (scores piled on few values) cannot double the memory; such a bucket uses std::sort.
    const index_t cap = std::max<index_t>(index_t(1) << 16, n / 16);
    std::vector<key_type> scratch(static_cast<std::size_t>(std::min(largest, cap)));
    for (auto [h, keys] : {std::pair{hg, genuine_.get()}, std::pair{hi, impostor_.get()}}) {
      index_t begin = 0;
      for (index_t b = 0; b < detail::bucket_count; ++b) {
        const index_t end = h[b];
        const index_t len = end - begin;
        if (len > cap) {
          std::sort(keys + begin, keys + end);
        } else {
          detail::sort_bucket(keys + begin, len, scratch.data());
        }
        begin = end;
      }
    }
    scratch_bytes_ = scratch.size() * sizeof(key_type) + hist.size() * sizeof(index_t);
  }

  index_t genuine_count() const { return genuine_size_; }
  index_t impostor_count() const { return impostor_size_; }
  /// Ascending keys; detail::key_to_score<T> turns one back into its score.
  std::span<const key_type> genuine_keys() const {
    return {genuine_.get(), std::size_t(genuine_size_)};
  }
  std::span<const key_type> impostor_keys() const {
    return {impostor_.get(), std::size_t(impostor_size_)};
  }
  /// Bytes held by this object, and the most it held at once while sorting.
  std::size_t bytes() const {
    return std::size_t(genuine_size_ + impostor_size_) * sizeof(key_type);
  }
  std::size_t peak_bytes() const { return bytes() + scratch_bytes_; }

  /// The impostor score of rank `rank` in [1, impostor_count()], rank 1 the highest: the
  /// threshold of a ROC point that walk_corners skipped (the EER threshold reads it).
  double impostor_score_at_rank(index_t rank) const {
    return static_cast<double>(
        detail::key_to_score<T>(impostor_[static_cast<std::size_t>(impostor_size_ - rank)]));
  }

  /// Calls visit(fp, tp, threshold) for every distinct score from the highest down, with the
  /// cumulative counts of impostor (fp) and genuine (tp) scores >= that threshold: exactly the
  /// ROC points of scikit-learn's roc_curve after its (0, 0, +inf) point. A visitor that
  /// returns bool stops the walk by returning false.
  template <class Visit>
  void walk(Visit&& visit) const {
    index_t gi = genuine_size_;
    index_t ii = impostor_size_;
    index_t tp = 0, fp = 0;
    const key_type* g = genuine_.get();
    const key_type* im = impostor_.get();
    while (gi > 0 || ii > 0) {
      key_type k;
      if (gi == 0) {
        k = im[ii - 1];
      } else if (ii == 0) {
        k = g[gi - 1];
      } else {
        k = std::max(g[gi - 1], im[ii - 1]);
      }
      while (ii > 0 && im[ii - 1] == k) {
        --ii;
        ++fp;
      }
      while (gi > 0 && g[gi - 1] == k) {
        --gi;
        ++tp;
      }
      const double t = static_cast<double>(detail::key_to_score<T>(k));
      if constexpr (std::is_same_v<decltype(visit(fp, tp, t)), bool>) {
        if (!visit(fp, tp, t)) return;
      } else {
        visit(fp, tp, t);
      }
    }
  }

  /// The ROC points where the curve turns: for each distinct genuine score, the last point of
  /// the horizontal run of impostor-only scores above it (if any) and its own point; then the
  /// last point. The points left out lie on straight horizontal pieces between these, so AUC,
  /// partial AUC, EER and the at-most rule are unchanged, while a run of impostors is skipped
  /// by a galloping search instead of visited score by score: O(P log(N/P)) after the sort.
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    index_t gi = genuine_size_;
    index_t ii = impostor_size_;
    index_t tp = 0, fp = 0;
    const key_type* g = genuine_.get();
    const key_type* im = impostor_.get();
    auto score = [](key_type k) { return static_cast<double>(detail::key_to_score<T>(k)); };
    while (gi > 0) {
      const key_type k = g[gi - 1];
      // First impostor index above k in [0, ii): gallop down from ii, then binary search.
      index_t step = 1;
      while (step <= ii && im[ii - step] > k) step *= 2;
      const index_t from = step <= ii ? ii - step : 0;
      const index_t to = ii - step / 2;
      const index_t lo = index_t(std::upper_bound(im + from, im + to, k) - im);
      if (lo < ii) {
        fp += ii - lo;
        ii = lo;
        visit(fp, tp, score(im[lo]));
      }
      while (gi > 0 && g[gi - 1] == k) {
        --gi;
        ++tp;
      }
      while (ii > 0 && im[ii - 1] == k) {
        --ii;
        ++fp;
      }
      visit(fp, tp, score(k));
    }
    if (ii > 0) visit(fp + ii, tp, score(im[0]));
  }

 private:
  std::unique_ptr<key_type[]> genuine_;
  std::unique_ptr<key_type[]> impostor_;
  index_t genuine_size_ = 0;
  index_t impostor_size_ = 0;
  std::size_t scratch_bytes_ = 0;
};

template <class S, class L>
sorted_scores(vector_view<S>, vector_view<L>) -> sorted_scores<std::remove_const_t<S>>;

/// What the verification metrics read from a score set: the class sizes, the two ROC walks
/// (walk, walk_corners, with sorted_scores' contract) and the impostor score of a rank.
/// sorted_scores is one; metrics::device::roc_points (the ROC points computed on a Thrust
/// system) is another, so that every rule is written once and run on either.
namespace detail {
/// A visitor type for the concept below (a named type: nvcc does not take a lambda there).
struct roc_walk_probe {
  void operator()(index_t, index_t, double) const {}
};
}  // namespace detail

template <class S>
concept roc_source = requires(const S& s, index_t rank, detail::roc_walk_probe probe) {
  { s.genuine_count() } -> std::convertible_to<index_t>;
  { s.impostor_count() } -> std::convertible_to<index_t>;
  { s.impostor_score_at_rank(rank) } -> std::convertible_to<double>;
  s.walk(probe);
  s.walk_corners(probe);
};

}  // namespace unitsface::metrics
