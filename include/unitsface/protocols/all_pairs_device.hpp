// unitsface protocols: all-pairs verification reduced on the device, for the Thrust systems whose
// memory is not the host's (cuda_policy; the tests' simulated_device).
//
// protocols::all_pairs copies every similarity tile to the host and counts its impostors there:
// at N = 1,000,000 that is 2 TB over the bus and 5 * 10^11 scores for the host's cores, minutes
// against the ~10 s of the products themselves on an H100/H200. Included after all_pairs.hpp (or
// instead of it), this header makes all_pairs count each tile where it is produced:
//
//  - the genuine scores come from the label groups' bands as before (few: N * 256 * D
//    products, their tiles copied to the host), sorted into their K distinct values;
//  - every tile of the upper triangle is one product into a device buffer, then one pass over
//    it gives each impostor pair (j > i, labels differ) the code of its genuine bucket: 2k
//    for "strictly between value k - 1 and value k" (k = 0: above every value, k = K: below
//    every value), 2k + 1 for "equal to value k", the buckets of metrics::genuine_buckets.
//    Each code's count (64-bit integers) and its lowest score (as an order-preserving
//    unsigned key) are merged into two device arrays of 2K + 2 entries: integer additions
//    and minima, whose results do not depend on the order they happen in, so the counts are
//    deterministic and the same as the host's;
//  - the arrays come back once, at the end, and the ROC corners are walked on the host as
//    genuine_buckets::walk_corners walks them: the same exact AUC, EER and at-most TAR@FAR
//    (each threshold is the lowest impostor score of its bucket, as on the host), from one
//    pass of products, with no second pass and no score list.
//
// The tile pass is written twice. The generic one (any Thrust system; run by the simulated
// device in the tests) writes each pair's code, sorts the tile by code and reduces equal codes
// (sort_by_key, reduce_by_key), then adds each distinct code's count and minimum into the
// arrays: sorting makes the merge race-free without atomics, which the CPU systems' Thrust
// does not offer. The CUDA one (nvcc only) is one kernel per tile: the pairs below every
// genuine value (nearly all impostors: a genuine cosine is far above 0) are counted and their
// minimum taken per thread, then per block (cub::BlockReduce), one atomic each per block;
// the others go straight to their code with an integer atomicAdd and atomicMin. The codes come
// from one function (bucket_code) in both, so the generic pass's tests cover the CUDA kernel's
// arithmetic; the CUDA protocols conformance (metrics_cuda "[protocols]") runs the kernel.
//
// A bucket is found by a binary search over the distinct genuine values (in T: the genuine
// values are T scores, so comparisons in T are exact), after one comparison with the lowest
// value that sends the bulk of the impostors to bucket K without a search.
//
// Memory on the device: the rows (N x D), one tile, the K values and the 2K + 2 counts and
// minima (16 bytes each for float: 72 MB at K = 4.5 M, the genuine pairs of 1,000,000 rows at 10
// per identity); the generic pass also 3 words per tile entry for its sort.
#pragma once

#include <thrust/functional.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>
#include <thrust/sort.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__CUDACC__)
#include <thrust/system/cuda/execution_policy.h>
#include <cub/block/block_reduce.cuh>
#endif

#include "unitsface/backends/primitives.hpp"
#include "unitsface/backends/thrust.hpp"
#include "unitsface/core/config.hpp"
#include "unitsface/core/error.hpp"
#include "unitsface/core/view.hpp"
#include "unitsface/metrics/genuine_buckets.hpp"
#include "unitsface/metrics/validation.hpp"
#include "unitsface/protocols/all_pairs.hpp"
#include "unitsface/protocols/similarity_tiles.hpp"

namespace unitsface::protocols::detail {

/// The unsigned key of a score whose order is the scores' (the minimum of keys is the key of
/// the minimum): integer atomicMin then takes a float minimum exactly and in any order.
template <class T>
using min_key_t = std::conditional_t<sizeof(T) == 4, unsigned int, unsigned long long>;

template <class T>
UNITSFACE_HD min_key_t<T> min_key(T x) {
  using K = min_key_t<T>;
  static_assert(sizeof(K) == sizeof(T));
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  K b;
  std::memcpy(&b, &x, sizeof b);
  return (b & sign) ? K(~b) : K(b | sign);  // negatives reversed below the positives
}

template <class T>
T from_min_key(min_key_t<T> k) {
  using K = min_key_t<T>;
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  const K b = (k & sign) ? K(k & ~sign) : K(~k);
  T x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

/// The genuine bucket of a score (see the file comment): 2k + 1 when it equals value k, 2k
/// when it lies strictly between value k - 1 and value k (values descending; k = K: below
/// them all), 2K + 1 when it is not finite.
template <class T>
struct bucket_code {
  const T* values = nullptr;  // K distinct genuine values, highest first (device memory)
  index_t K = 0;
  UNITSFACE_HD index_t below() const { return 2 * K; }
  UNITSFACE_HD index_t not_finite() const { return 2 * K + 1; }
  UNITSFACE_HD index_t operator()(T s) const {
    if (!(s - s == T(0))) return not_finite();  // NaN and +-inf (inf - inf is NaN)
    if (s < values[K - 1]) return below();
    index_t lo = 0, hi = K;  // lo: the values above s
    while (lo < hi) {
      const index_t mid = lo + (hi - lo) / 2;
      if (values[mid] > s) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo < K && values[lo] == s ? 2 * lo + 1 : 2 * lo;
  }
};

/// Entry t of a tile (rows i0..., columns j0..., `cols` wide): its code, or `excluded` for a
/// pair that is no impostor of the upper triangle (j <= i, or the same label).
template <class T>
struct pair_code {
  const T* tile = nullptr;
  index_t cols = 0, i0 = 0, j0 = 0;
  const index_t* labels = nullptr;  // one per row of the set (device memory)
  bucket_code<T> code;
  UNITSFACE_HD index_t excluded() const { return code.not_finite() + 1; }
  UNITSFACE_HD index_t operator()(index_t t) const {
    const index_t r = t / cols, c = t - r * cols, i = i0 + r, j = j0 + c;
    if (j <= i || labels[i] == labels[j]) return excluded();
    return code(tile[t]);
  }
};

/// A code's count and lowest score (as a min_key), as reduce_by_key merges them.
template <class T>
struct count_min {
  unsigned long long count = 0;
  min_key_t<T> min = ~min_key_t<T>(0);
};
template <class T>
struct one_score {
  UNITSFACE_HD count_min<T> operator()(T s) const { return count_min<T>{1ull, min_key(s)}; }
};
template <class T>
struct merge_count_min {
  UNITSFACE_HD count_min<T> operator()(const count_min<T>& a, const count_min<T>& b) const {
    return count_min<T>{a.count + b.count, b.min < a.min ? b.min : a.min};
  }
};

template <class T>
struct write_codes {
  pair_code<T> code;
  index_t* keys;
  UNITSFACE_HD void operator()(index_t t) const { keys[t] = code(t); }
};

/// Adds the tile's distinct codes (one index each: no two write the same entry) into the
/// arrays; the excluded pairs' code is skipped.
template <class T>
struct add_codes {
  const index_t* keys;
  const count_min<T>* values;
  unsigned long long* counts;
  min_key_t<T>* mins;
  index_t excluded;
  UNITSFACE_HD void operator()(index_t u) const {
    const index_t k = keys[u];
    if (k == excluded) return;
    counts[k] += values[u].count;
    mins[k] = values[u].min < mins[k] ? values[u].min : mins[k];
  }
};

template <class K>
struct fill_value {
  K* out;
  K v;
  UNITSFACE_HD void operator()(index_t i) const { out[i] = v; }
};

#if defined(__CUDACC__)
template <class K>
struct min_of {
  __device__ K operator()(K a, K b) const { return b < a ? b : a; }
};

inline constexpr int pair_threads = 256;        // threads per block: one per column
inline constexpr index_t pair_block_rows = 16;  // rows per block: 16 scores per thread

/// The CUDA tile pass: block (x, y) takes 256 columns of 16 rows. The pairs below every
/// genuine value are counted per thread and per block (one atomic each per block, not one per
/// pair on one address); the others go to their code's entries by integer atomics.
template <class T>
__global__ void __launch_bounds__(pair_threads)
    count_tile_pairs(pair_code<T> p, index_t rows, unsigned long long* counts, min_key_t<T>* mins) {
  using K = min_key_t<T>;
  const index_t c = index_t(blockIdx.x) * pair_threads + threadIdx.x;
  const index_t r0 = index_t(blockIdx.y) * pair_block_rows;
  const index_t r1 = r0 + pair_block_rows < rows ? r0 + pair_block_rows : rows;
  const index_t below = p.code.below();
  unsigned long long n_below = 0;
  K low = ~K(0);
  if (c < p.cols) {
    const index_t j = p.j0 + c;
    const index_t lj = p.labels[j];
    for (index_t r = r0; r < r1; ++r) {
      const index_t i = p.i0 + r;
      if (j <= i || p.labels[i] == lj) continue;
      const T s = p.tile[r * p.cols + c];
      const index_t k = p.code(s);
      const K key = min_key(s);
      if (k == below) {
        ++n_below;
        low = key < low ? key : low;
      } else {
        atomicAdd(counts + k, 1ull);
        atomicMin(mins + k, key);
      }
    }
  }
  using sum_reduce = cub::BlockReduce<unsigned long long, pair_threads>;
  using min_reduce = cub::BlockReduce<K, pair_threads>;
  __shared__ typename sum_reduce::TempStorage sum_storage;
  __shared__ typename min_reduce::TempStorage min_storage;
  const unsigned long long block_below = sum_reduce(sum_storage).Sum(n_below);
  const K block_low = min_reduce(min_storage).Reduce(low, min_of<K>{});
  if (threadIdx.x == 0 && block_below > 0) {
    atomicAdd(counts + below, block_below);
    atomicMin(mins + below, block_low);
  }
}
#endif

/// The similarity tiles of all pairs of `rows` (the upper triangle, every tile holding some
/// pair i < j; o.part of o.parts bands as similarity_tiles takes them), each one product into
/// a buffer of the policy's memory, handed to tile(i0, j0, nr, nc, device pointer) without a
/// copy or a synchronisation: the same tiles, by the same product, as for_each_pair's.
template <class T, class Policy, class Tile>
void for_each_device_tile(const Policy& pol, const unit_rows<T, Policy>& rows,
                          const tile_options& o, Tile&& tile) {
  require_tiles(o);
  const index_t n = rows.rows();
  const index_t tr = std::min(o.tile_rows, n), tc = std::min(o.tile_cols, n);
  auto buf = backends::make_buffer<T>(pol, tr * tc);
  T* const c = backends::data_ptr(buf);
  for (index_t i0 = o.part * tr; i0 < n; i0 += tr * o.parts) {
    const index_t nr = std::min(tr, n - i0);
    for (index_t j0 = (i0 + 1) / tc * tc; j0 < n; j0 += tc) {
      const index_t nc = std::min(tc, n - j0);
      backends::gemm(pol, T(1), rows.view().row_block(i0, nr),
                     backends::transpose(rows.view().row_block(j0, nc)), T(0),
                     matrix_view<T>(c, nr, nc));
      tile(i0, j0, nr, nc, c);
    }
  }
}

/// The ROC corners of the counts that came back: genuine_buckets::walk_corners over the same
/// buckets, for metrics::summarize_corners.
struct counted_corners {
  std::vector<double> values;  // distinct genuine values, highest first
  std::vector<index_t> count;  // genuine scores equal to each
  std::vector<index_t> equal, above;
  std::vector<double> above_min;
  index_t genuine = 0, impostor = 0;
  index_t genuine_count() const { return genuine; }
  index_t impostor_count() const { return impostor; }
  template <class Visit>
  void walk_corners(Visit&& visit) const {
    index_t tp = 0, fp = 0;
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (above[k] > 0) {
        fp += above[k];
        visit(fp, tp, above_min[k]);
      }
      tp += count[k];
      fp += equal[k];
      visit(fp, tp, values[k]);
    }
    const std::size_t last = values.size();
    if (above[last] > 0) visit(fp + above[last], tp, above_min[last]);
  }
};

/// all_pairs' impostor pass with the tiles reduced on the device (see the file comment);
/// `genuine`: the genuine scores of the label groups' bands.
template <class T, class Policy>
metrics::corner_summary all_pairs_on_device(const Policy& pol, const labelled_rows<T, Policy>& set,
                                            std::vector<double> genuine,
                                            const all_pairs_options& o) {
  using K = min_key_t<T>;
  counted_corners corners;
  for (std::size_t i = 0; i < genuine.size(); ++i)
    metrics::detail::require_finite_score(genuine[i], index_t(i), "genuine");
  std::sort(genuine.begin(), genuine.end(), std::greater<>());
  for (double g : genuine) {
    if (corners.values.empty() || corners.values.back() != g) {
      corners.values.push_back(g);
      corners.count.push_back(0);
    }
    ++corners.count.back();
  }
  corners.genuine = index_t(genuine.size());
  const index_t nv = index_t(corners.values.size());
  // The values as T: they are T scores (the bands' tiles), so the conversion is exact.
  std::vector<T> values_t(corners.values.begin(), corners.values.end());
  auto values = backends::make_buffer<T>(pol, nv);
  backends::copy_from_host(pol, values_t.data(), nv, backends::data_ptr(values));
  const std::vector<index_t> labels_h(set.labels.begin(), set.labels.end());
  const index_t n = index_t(labels_h.size());
  auto labels = backends::make_buffer<index_t>(pol, n);
  backends::copy_from_host(pol, labels_h.data(), n, backends::data_ptr(labels));
  const index_t codes = 2 * nv + 2;  // 2K + 1 buckets and the non-finite scores
  auto counts = backends::make_buffer<unsigned long long>(pol, codes);  // zeroed
  auto mins = backends::make_buffer<K>(pol, codes);
  backends::for_each_index(pol, codes, fill_value<K>{backends::data_ptr(mins), ~K(0)});
  const bucket_code<T> code{backends::data_ptr(values), nv};
  unsigned long long* const counts_d = backends::data_ptr(counts);
  K* const mins_d = backends::data_ptr(mins);
  const index_t* const labels_d = backends::data_ptr(labels);

#if defined(__CUDACC__)
  constexpr bool cuda = std::is_same_v<typename Policy::system, thrust::system::cuda::tag>;
#else
  constexpr bool cuda = false;
#endif
  if constexpr (cuda) {
#if defined(__CUDACC__)
    for_each_device_tile(
        pol, set.rows, o.tiles, [&](index_t i0, index_t j0, index_t nr, index_t nc, T* tile) {
          const pair_code<T> p{tile, nc, i0, j0, labels_d, code};
          const dim3 grid(unsigned((nc + pair_threads - 1) / pair_threads),
                          unsigned((nr + pair_block_rows - 1) / pair_block_rows));
          count_tile_pairs<T><<<grid, pair_threads, 0, pol.state.stream>>>(p, nr, counts_d, mins_d);
          const cudaError_t e = cudaGetLastError();
          if (e != cudaSuccess)
            throw std::runtime_error(std::string("count_tile_pairs: ") + cudaGetErrorString(e));
        });
#endif
  } else {
    // The generic pass's sort space: a code per entry, and the distinct codes with their
    // counts and minima.
    const index_t most = std::min(o.tiles.tile_rows, n) * std::min(o.tiles.tile_cols, n);
    auto keys = backends::make_buffer<index_t>(pol, most);
    auto out_keys = backends::make_buffer<index_t>(pol, most);
    auto out_values = backends::make_buffer<count_min<T>>(pol, most);
    index_t* const k = backends::data_ptr(keys);
    index_t* const ok = backends::data_ptr(out_keys);
    count_min<T>* const ov = backends::data_ptr(out_values);
    const auto exec = Policy::traits::exec(pol.state);
    const auto sync_exec = Policy::traits::reduce_exec(pol.state);
    for_each_device_tile(
        pol, set.rows, o.tiles, [&](index_t i0, index_t j0, index_t nr, index_t nc, T* tile) {
          const pair_code<T> p{tile, nc, i0, j0, labels_d, code};
          const index_t m = nr * nc;
          backends::for_each_index(pol, m, write_codes<T>{p, k});
          // The tile's scores are sorted with their codes: the next product overwrites them.
          thrust::sort_by_key(exec, k, k + m, tile);
          const auto ends = thrust::reduce_by_key(
              sync_exec, k, k + m, thrust::make_transform_iterator(tile, one_score<T>{}), ok, ov,
              thrust::equal_to<index_t>(), merge_count_min<T>{});
          backends::for_each_index(pol, index_t(ends.first - ok),
                                   add_codes<T>{ok, ov, counts_d, mins_d, p.excluded()});
        });
  }

  std::vector<unsigned long long> counts_h(std::size_t(codes), 0);
  std::vector<K> mins_h(std::size_t(codes), 0);
  backends::copy_to_host(pol, counts_d, codes, counts_h.data());
  backends::copy_to_host(pol, mins_d, codes, mins_h.data());
  unitsface::detail::require(counts_h[std::size_t(code.not_finite())] == 0, "features",
                             "a similarity is not finite");
  corners.equal.resize(std::size_t(nv));
  corners.above.resize(std::size_t(nv) + 1);
  corners.above_min.resize(std::size_t(nv) + 1);
  for (index_t v = 0; v <= nv; ++v) {
    const auto a = std::size_t(2 * v);
    corners.above[std::size_t(v)] = index_t(counts_h[a]);
    corners.above_min[std::size_t(v)] =
        counts_h[a] > 0 ? static_cast<double>(from_min_key<T>(mins_h[a])) : 0.0;
    corners.impostor += index_t(counts_h[a]);
    if (v < nv) {
      corners.equal[std::size_t(v)] = index_t(counts_h[a + 1]);
      corners.impostor += index_t(counts_h[a + 1]);
    }
  }
  return metrics::summarize_corners(corners, o.far_targets);
}

/// The Thrust systems whose memory is not the host's reduce all_pairs' tiles on the device.
template <class System>
requires(!thrust_policy<System>::host_memory) struct device_pair_reduction<thrust_policy<System>>
    : std::true_type {
  template <class T, class Policy>
  static metrics::corner_summary summarize(const Policy& pol, const labelled_rows<T, Policy>& set,
                                           std::vector<double> genuine,
                                           const all_pairs_options& o) {
    return all_pairs_on_device<T>(pol, set, std::move(genuine), o);
  }
};

}  // namespace unitsface::protocols::detail
